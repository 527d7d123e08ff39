// SPDX-License-Identifier: MIT
/* Error messages and logging (libdax/error.c). */
#include <pthread.h>

#include "helpers.h"
#include "libdax/internal.h"

Test(errors, message_is_empty_before_any_failure)
{
	cr_assert_str_eq(dax_errormsg(), "");
}

Test(errors, fail_returns_errno_and_sets_message)
{
	int ret = dax_fail(NULL, -ENOSPC, "no room for %d pages", 7);

	cr_assert_eq(ret, -ENOSPC);
	cr_assert_str_eq(dax_errormsg(), "no room for 7 pages");
}

Test(errors, alignment_message_names_the_nearest_valid_values)
{
	cr_assert_eq(dax_check_align(NULL, "offset", 0x200000, 0x200000,
				     "region alignment"), 0);
	assert_fails_with(dax_check_align(NULL, "offset", 0x1000, 0x200000,
					  "region alignment"),
			  -EINVAL,
			  "offset 0x1000 is not a multiple of the region "
			  "alignment 2 MiB; 0x0 or 0x200000 would be");
}

Test(errors, sizes_are_written_in_binary_units)
{
	char buf[32];

	cr_assert_str_eq(dax_size_str(4096, buf, sizeof(buf)), "4 KiB");
	cr_assert_str_eq(dax_size_str(1ULL << 30, buf, sizeof(buf)), "1 GiB");
	cr_assert_str_eq(dax_size_str(100, buf, sizeof(buf)), "100 bytes");
	cr_assert_str_eq(dax_size_str(4097, buf, sizeof(buf)), "0x1001");
}

static void *fail_in_thread(void *arg)
{
	dax_fail(NULL, -EIO, "thread message");
	return NULL;
}

Test(errors, message_is_per_thread)
{
	pthread_t t;

	dax_fail(NULL, -EINVAL, "main message");
	cr_assert_eq(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
	pthread_join(t, NULL);
	cr_assert_str_eq(dax_errormsg(), "main message");
}

struct captured {
	int calls;
	enum dax_log_level level;
	char msg[DAX_ERRMSG_MAX];
};

static void capture(void *priv, enum dax_log_level level, const char *msg)
{
	struct captured *c = priv;

	c->calls++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

Test(errors, log_callback_gets_failures_and_respects_its_level)
{
	struct captured c = { 0 };
	struct dax_logger log = { capture, &c, DAX_LOG_WARN };

	dax_fail(&log, -EINVAL, "bad thing");
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.level, DAX_LOG_ERR);
	cr_assert_str_eq(c.msg, "bad thing");
	dax_log(&log, DAX_LOG_DEBUG, "chatter");
	cr_assert_eq(c.calls, 1, "a debug message passed a warn-level sink");
	dax_log(&log, DAX_LOG_WARN, "careful %d", 1);
	cr_assert_eq(c.calls, 2);
	cr_assert_str_eq(c.msg, "careful 1");
}
