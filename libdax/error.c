// SPDX-License-Identifier: MIT
/*
 * Errors and logging.
 *
 * A failing call returns a negative errno and leaves its reason, in words,
 * in a thread-local buffer that dax_errormsg() returns: the errno says what
 * kind of failure it was, the message says which rule was broken and, for
 * alignment, what would have been accepted.  The message is written where
 * the failure is detected (dax_fail()), never re-derived by a caller.
 *
 * The library never prints on its own: messages go to a log callback when
 * an object was given one, and to stderr only when DAX_LOG is set in the
 * environment (DAX_LOG=err|warn|info|debug, or a number 3..7).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static __thread char dax_errbuf[DAX_ERRMSG_MAX];

/* Read once; it is configuration, not state that changes while running. */
static int dax_env_level = -1;
static pthread_once_t dax_env_once = PTHREAD_ONCE_INIT;

static void dax_read_env_level(void)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "err", DAX_LOG_ERR },	  { "error", DAX_LOG_ERR },
		{ "warn", DAX_LOG_WARN }, { "warning", DAX_LOG_WARN },
		{ "info", DAX_LOG_INFO }, { "debug", DAX_LOG_DEBUG },
	};
	const char *env = getenv("DAX_LOG");
	char *end;
	long n;

	if (!env || !*env)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(env, names[i].name)) {
			dax_env_level = names[i].level;
			return;
		}
	}
	n = strtol(env, &end, 10);
	dax_env_level = (*end == '\0' && n >= 0) ? (int)n : DAX_LOG_DEBUG;
}

static const char *dax_level_name(enum dax_log_level level)
{
	switch (level) {
	case DAX_LOG_ERR:
		return "error";
	case DAX_LOG_WARN:
		return "warning";
	case DAX_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void dax_emit(const struct dax_logger *log, enum dax_log_level level,
		     const char *msg)
{
	pthread_once(&dax_env_once, dax_read_env_level);
	if (log && log->fn && (int)level <= (int)log->level)
		log->fn(log->priv, level, msg);
	if (dax_env_level >= 0 && (int)level <= dax_env_level)
		fprintf(stderr, "libdax %s: %s\n", dax_level_name(level), msg);
}

/**
 * dax_errormsg() - why the calling thread's last libdax call failed
 *
 * Context: any thread; the text is thread-local and stays valid until the
 * thread's next failing libdax call.
 * Return: a NUL-terminated message, "" when nothing has failed yet.
 */
DAX_EXPORT const char *dax_errormsg(void)
{
	return dax_errbuf;
}

void dax_clear_errormsg(void)
{
	dax_errbuf[0] = '\0';
}

int dax_fail(const struct dax_logger *log, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dax_errbuf, sizeof(dax_errbuf), fmt, ap);
	va_end(ap);
	dax_emit(log, DAX_LOG_ERR, dax_errbuf);
	return err;
}

void dax_log(const struct dax_logger *log, enum dax_log_level level,
	     const char *fmt, ...)
{
	char msg[DAX_ERRMSG_MAX];
	va_list ap;

	pthread_once(&dax_env_once, dax_read_env_level);
	if (!(log && log->fn && (int)level <= (int)log->level) &&
	    !(dax_env_level >= 0 && (int)level <= dax_env_level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dax_emit(log, level, msg);
}

const char *dax_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	int unit = -1;
	uint64_t scale = 1;

	while (unit < 3 && bytes >= scale * 1024) {
		scale *= 1024;
		unit++;
	}
	if (unit < 0)
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
	else if (bytes % scale == 0)
		snprintf(buf, len, "%llu %s",
			 (unsigned long long)(bytes / scale), units[unit]);
	else
		snprintf(buf, len, "%#llx", (unsigned long long)bytes);
	return buf;
}

int dax_check_align(const struct dax_logger *log, const char *what,
		    uint64_t value, uint64_t align, const char *align_what)
{
	char sz[32];
	uint64_t below, above;

	if (align == 0 || value % align == 0)
		return 0;
	below = value - value % align;
	above = below + align;
	return dax_fail(log, -EINVAL,
			"%s 0x%llx is not a multiple of the %s %s; "
			"0x%llx or 0x%llx would be",
			what, (unsigned long long)value, align_what,
			dax_size_str(align, sz, sizeof(sz)),
			(unsigned long long)below, (unsigned long long)above);
}
