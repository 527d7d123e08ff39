// SPDX-License-Identifier: MIT
/*
 * Crash consistency of dax_writeback(): a child process writes pages of a
 * file region through dax_fault(), writes them back, and only then appends
 * a commit record (region page, value) to a side file.  The parent kills
 * it with SIGKILL at a random moment, reopens the region and checks that
 * every committed page holds its committed value (or a later one the child
 * wrote afterwards: values only grow).  Twenty rounds; each child is
 * killed at a random moment up to 50 ms after its first commit.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096
#define WORDS (PAGE / sizeof(uint64_t))
#define NR_INDICES 512
#define ROUNDS 20

struct record {
	uint64_t pfn, value;
};

static struct dax_region *open_file(const char *path, unsigned flags)
{
	struct dax_region_opts *o;
	struct dax_region *reg = NULL;

	if (dax_region_opts_new(&o))
		return NULL;
	dax_region_opts_set_size(o, 8 * MiB);
	if (flags)
		dax_region_opts_set_flags(o, flags);
	if (dax_region_open(path, o, &reg))
		reg = NULL;
	dax_region_opts_delete(&o);
	return reg;
}

static off_t side_size(const char *side)
{
	struct stat st;

	return stat(side, &st) ? 0 : st.st_size;
}

/* The child: never returns; exits 2 on any failure (not a crash). */
static void child(const char *path, const char *side, uint64_t first_value)
{
	static const struct dax_mapping_ops ops;
	struct dax_region *reg = open_file(path, 0);
	struct dax_mapping *m;
	struct dax_fault_ext ext;
	int fd = open(side, O_WRONLY | O_APPEND);
	uint64_t v = first_value;

	if (!reg || fd < 0 || dax_mapping_new(reg, &ops, NULL, 4 * MiB, &m))
		_exit(2);
	for (uint64_t k = 0;; k++, v++) {
		uint64_t idx = k % NR_INDICES;
		uint64_t *p;
		struct record rec;

		if (dax_fault(m, idx, DAX_FAULT_WRITE, &ext))
			_exit(2);
		p = ext.addr;
		for (size_t i = 0; i < WORDS; i++)
			p[i] = v;
		if (dax_writeback(m, idx, idx))
			_exit(2);
		rec = (struct record){ ext.pfn, v };
		if (write(fd, &rec, sizeof(rec)) != sizeof(rec))
			_exit(2);
	}
}

Test(crash, every_committed_page_survives_sigkill, .timeout = 120)
{
	char *dir = test_tmpdir();
	char path[512], side[512];
	unsigned seed = (unsigned)time(NULL);
	uint64_t first_value = 1, checked = 0;

	snprintf(path, sizeof(path), "%s/region", dir);
	snprintf(side, sizeof(side), "%s/commits", dir);
	{
		struct dax_region *reg = open_file(path, DAX_REGION_CREATE);

		cr_assert_not_null(reg, "%s", dax_errormsg());
		cr_assert_eq(dax_region_close(&reg), 0);
	}
	cr_log_info("crash test seed %u", seed);
	for (int round = 0; round < ROUNDS; round++) {
		struct dax_region *reg;
		struct record rec;
		const char *base;
		int status, fd;
		pid_t pid;

		/* Emptied here: the child may die before it opens it. */
		fd = open(side, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
		pid = fork();

		cr_assert_geq(pid, 0);
		if (pid == 0)
			child(path, side, first_value);
		/* Let it commit once (a loaded machine starts it slowly),
		 * then kill it anywhere in the next 50 ms. */
		for (int w = 0; w < 5000 && side_size(side) == 0; w++)
			usleep(1000);
		usleep(rand_r(&seed) % 50000);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status),
			  "round %d: the child exited with %d before the kill",
			  round, WEXITSTATUS(status));

		reg = open_file(path, DAX_REGION_READONLY);
		cr_assert_not_null(reg, "%s", dax_errormsg());
		base = dax_region_get_base(reg);
		fd = open(side, O_RDONLY);
		cr_assert_geq(fd, 0);
		while (read(fd, &rec, sizeof(rec)) == sizeof(rec)) {
			const uint64_t *p =
				(const uint64_t *)(base + rec.pfn * PAGE);

			for (size_t i = 0; i < WORDS; i++)
				cr_assert_geq(p[i], rec.value,
					      "round %d: page %llu word %zu "
					      "holds %llu, %llu was committed",
					      round,
					      (unsigned long long)rec.pfn, i,
					      (unsigned long long)p[i],
					      (unsigned long long)rec.value);
			if (rec.value >= first_value)
				first_value = rec.value + 1;
			checked++;
		}
		close(fd);
		/* The next child's values start above anything seen. */
		first_value += 1u << 20;
		cr_assert_eq(dax_region_close(&reg), 0);
	}
	cr_assert_gt(checked, 0, "no commit was ever recorded");
	cr_log_info("%llu commits checked", (unsigned long long)checked);
	test_rmdir(dir);
}
