// SPDX-License-Identifier: MIT
/*
 * daxlitetest: what only the daxlite module does; runs in the test VM
 * (tests/vm/check-vm.sh), built static.
 *
 *   daxlitetest busy DEVICE [SLOW_BLOCKDEV]
 *	DAXLITE_IOC_BUSY: 0 on mapped, idle memory; > 0 while vmsplice'd
 *	pipe buffers hold pages, and while an O_DIRECT read from
 *	SLOW_BLOCKDEV (null_blk with a completion delay) into the mapping is
 *	in flight; 0 again afterwards.
 *   daxlitetest remove DEVICE [rmmod]
 *	Removes DEVICE (/sys/class/daxlite/remove) while it is mapped, while
 *	two children fault on it in a loop, and while a pipe holds some of
 *	its pages: faults then raise SIGBUS, mmap fails with ENXIO, the busy
 *	query still works and drains to 0.  With "rmmod", the file is closed
 *	and the module unloaded while the pipe still holds pages, which the
 *	pipe then frees.
 *   daxlitetest unbind /dev/daxX.Y [pipe]
 *	The same on device-DAX, for comparison: unbinds it from device_dax
 *	while mapped and faulted on.  With "pipe", also while a vmsplice'd
 *	pipe holds some of its pages: on Debian's 6.1 that oopses the kernel
 *	(use after free of the struct pages), so it is not part of check-vm.
 *
 * Prints one "ok"/"not ok" line per check; exits 1 if any failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daxlite_uapi.h"

#define PIPE_BYTES (64u << 10)

#include "vmtest.h"

static int busy(int fd, uint64_t off, uint64_t len, struct daxlite_busy *q)
{
	memset(q, 0, sizeof(*q));
	q->offset = off;
	q->length = len;
	return ioctl(fd, DAXLITE_IOC_BUSY, q) ? -errno : 0;
}

static void show(const char *what, const struct daxlite_busy *q)
{
	printf("# %s: busy %llu pinned %llu refs %llu (granule %llu)\n", what,
	       (unsigned long long)q->busy, (unsigned long long)q->pinned,
	       (unsigned long long)q->refs, (unsigned long long)q->granule);
}

static uint8_t *map_aligned(int fd, size_t len, size_t align)
{
	uint8_t *res, *want, *p;

	res = mmap(NULL, len + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return NULL;
	want = (uint8_t *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	return p;
}

/* vmsplice PIPE_BYTES of the mapping into a pipe: its buffers hold pages. */
static int splice_in(int pfd[2], uint8_t *p)
{
	struct iovec iov = { .iov_base = p, .iov_len = PIPE_BYTES };

	if (pipe(pfd))
		return -errno;
	fcntl(pfd[1], F_SETPIPE_SZ, 2 * PIPE_BYTES);
	return vmsplice(pfd[1], &iov, 1, 0) == PIPE_BYTES ? 0 : -errno;
}

static void splice_out(int pfd[2])
{
	static char sink[PIPE_BYTES];
	size_t got = 0;
	ssize_t n;

	while (got < PIPE_BYTES && (n = read(pfd[0], sink, sizeof(sink))) > 0)
		got += n;
	close(pfd[0]);
	close(pfd[1]);
}

struct dio {
	int fd;
	uint8_t *buf;
	size_t len;
	ssize_t ret;
	_Atomic int done;
};

static void *dio_read(void *arg)
{
	struct dio *d = arg;

	d->ret = pread(d->fd, d->buf, d->len, 0);
	d->done = 1;
	return NULL;
}

static int cmd_busy(int fd, const char *slow)
{
	struct daxlite_info info;
	struct daxlite_busy q;
	size_t len, half, pages, granule;
	int pfd[2], rc;
	uint8_t *p;

	if (ioctl(fd, DAXLITE_IOC_INFO, &info))
		return 1;
	len = info.align > (4u << 20) ? info.align : (4u << 20);
	if (len > info.size)
		len = info.size;
	half = len / 2;
	p = map_aligned(fd, len, info.align);
	check(p != NULL, "map %#zx bytes", len);
	if (!p)
		return 1;
	memset(p, 0x5a, len);

	rc = busy(fd, 0, info.size, &q);
	granule = q.granule;
	show("mapped, idle", &q);
	check(!rc && q.busy == 0 && q.pinned == 0 && q.refs == 0,
	      "mapped and touched, nothing in flight: busy 0 (%s)",
	      strerror(-rc));
	check(busy(fd, 1, 4096, &q) == -EINVAL, "unaligned offset: EINVAL");
	check(busy(fd, 0, 0, &q) == -EINVAL, "zero length: EINVAL");
	check(busy(fd, 0, info.size + 4096, &q) == -EINVAL,
	      "range past the end: EINVAL");

	/* Pipe buffers: FOLL_GET references that stay until read. */
	rc = splice_in(pfd, p + half);
	check(!rc, "vmsplice %u bytes of the mapping (%s)", PIPE_BYTES,
	      strerror(-rc));
	pages = granule == 4096 ? PIPE_BYTES / 4096 : granule / 4096;
	rc = busy(fd, 0, len, &q);
	show("vmsplice'd", &q);
	check(!rc && q.busy == pages && q.refs >= PIPE_BYTES / 4096 &&
	      q.pinned == 0, "pipe holds pages: busy %llu == %zu, refs >= %u",
	      (unsigned long long)q.busy, pages, PIPE_BYTES / 4096);
	rc = busy(fd, 0, half, &q);
	check(!rc && q.busy == 0, "a range without those pages: busy 0");
	splice_out(pfd);
	rc = busy(fd, 0, len, &q);
	show("pipe drained", &q);
	check(!rc && q.busy == 0 && q.refs == 0, "pipe drained: busy 0");

	/* O_DIRECT read in flight into the mapping. */
	if (slow) {
		struct dio d = { .buf = p + half, .len = 256u << 10 };
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		pthread_t t;

		d.fd = open(slow, O_RDONLY | O_DIRECT);
		check(d.fd >= 0, "open %s O_DIRECT (%s)", slow,
		      d.fd >= 0 ? "ok" : strerror(errno));
		if (d.fd < 0)
			return 1;
		/*
		 * The read is in flight for the device's completion delay
		 * (1 s) after its submission: poll until the query sees it,
		 * or the read is over.
		 */
		pthread_create(&t, NULL, dio_read, &d);
		do {
			nanosleep(&ts, NULL);
			rc = busy(fd, 0, len, &q);
		} while (!rc && !q.busy && !d.done);
		show("O_DIRECT read in flight", &q);
		check(!rc && q.busy > 0 && q.refs > 0,
		      "O_DIRECT read in flight: busy %llu > 0",
		      (unsigned long long)q.busy);
		pthread_join(t, NULL);
		check(d.ret == (ssize_t)d.len, "O_DIRECT read completed: %zd",
		      d.ret);
		rc = busy(fd, 0, len, &q);
		show("O_DIRECT read done", &q);
		check(!rc && q.busy == 0, "after completion: busy 0");
		close(d.fd);
	}
	munmap(p, len);
	return 0;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/* Map, touch every page, unmap, until removal shows (SIGBUS or ENXIO). */
static int fault_loop(int fd, size_t len, size_t align)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	time_t end = time(NULL) + 60;
	volatile long rounds = 0;
	uint8_t *volatile p;

	sigaction(SIGBUS, &sa, NULL);
	while (time(NULL) < end) {
		p = map_aligned(fd, len, align);
		if (!p) {
			printf("# child %d: mmap %s after %ld rounds\n",
			       getpid(), strerror(errno), rounds);
			fflush(stdout);
			return errno == ENXIO ? 0 : 2;
		}
		if (sigsetjmp(bus_jmp, 1)) {
			printf("# child %d: SIGBUS after %ld rounds\n", getpid(),
			       rounds);
			fflush(stdout);
			return 0;
		}
		for (size_t off = 0; off < len; off += 4096)
			p[off]++;
		munmap(p, len);
		rounds++;
	}
	return 3;
}

static int cmd_remove(int fd, const char *dev, bool then_rmmod)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct daxlite_info info;
	struct daxlite_busy q;
	char name[64];
	int pfd[2], rc, st, ctl;
	pid_t kids[2];
	size_t len;
	uint8_t *p;

	if (ioctl(fd, DAXLITE_IOC_INFO, &info))
		return 1;
	len = info.align > (4u << 20) ? info.align : (4u << 20);
	p = map_aligned(fd, len, info.align);
	check(p != NULL, "map %#zx bytes", len);
	if (!p)
		return 1;
	memset(p, 1, len);
	rc = splice_in(pfd, p);
	check(!rc, "vmsplice into a pipe (%s)", strerror(-rc));
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (!kids[i])
			_exit(fault_loop(fd, len, info.align));
	}
	nanosleep(&ts, NULL);

	snprintf(name, sizeof(name), "%s", basename((char *)dev));
	ctl = open("/sys/class/" DAXLITE_CLASS_NAME "/remove", O_WRONLY);
	rc = ctl >= 0 && write(ctl, name, strlen(name)) == (ssize_t)strlen(name);
	check(rc, "write %s to /sys/class/daxlite/remove (%s)", name,
	      rc ? "ok" : strerror(errno));
	if (ctl >= 0)
		close(ctl);

	for (int i = 0; i < 2; i++) {
		waitpid(kids[i], &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "faulting child %d saw the removal (status %#x)", i, st);
	}
	sigaction(SIGBUS, &sa, NULL);
	volatile int got_bus = 0;
	if (!sigsetjmp(bus_jmp, 1))
		(void)*(volatile uint8_t *)p;
	else
		got_bus = 1;
	check(got_bus, "access to the old mapping raises SIGBUS");
	check(mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
	      errno == ENXIO, "new mmap: ENXIO");
	check(access(dev, F_OK) != 0, "%s is gone", dev);
	check(!ioctl(fd, DAXLITE_IOC_INFO, &info) && !info.alive,
	      "DAXLITE_IOC_INFO says not alive");
	rc = busy(fd, 0, len, &q);
	show("removed, pipe full", &q);
	check(!rc && q.busy > 0, "busy query after removal sees the pipe");
	if (!then_rmmod) {
		splice_out(pfd);
		rc = busy(fd, 0, len, &q);
		check(!rc && q.busy == 0, "pipe drained after removal: busy 0");
		munmap(p, len);
		return 0;
	}
	/*
	 * Free the device (last file closed) and unload the module while
	 * the pipe still holds pages: the pipe's put_page frees them.
	 */
	munmap(p, len);
	close(fd);
	rc = system("rmmod daxlite");
	check(rc == 0, "rmmod while a pipe still holds device pages: %d", rc);
	splice_out(pfd);
	check(1, "pipe drained after rmmod");
	return 0;
}

/*
 * The device-DAX counterpart of cmd_remove, for the comparison: unbind
 * DEVICE from device_dax while it is mapped and faulted on, and (with_pipe)
 * while a pipe holds some of its pages.
 */
static int cmd_unbind(int fd, const char *dev, bool with_pipe)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	struct sigaction sa = { .sa_handler = on_sigbus };
	unsigned long long align = 0;
	char path[128], name[64];
	int pfd[2], rc, st, ust = 0;
	pid_t kids[2], unbinder;
	struct stat sb;
	size_t len;
	uint8_t *p;
	FILE *f;

	fstat(fd, &sb);
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/align",
		 major(sb.st_rdev), minor(sb.st_rdev));
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &align) != 1)
		return 1;
	fclose(f);
	len = align > (4u << 20) ? align : (4u << 20);
	p = map_aligned(fd, len, align);
	check(p != NULL, "map %#zx bytes", len);
	if (!p)
		return 1;
	memset(p, 1, len);
	if (with_pipe) {
		rc = splice_in(pfd, p);
		check(!rc, "vmsplice into a pipe (%s)", strerror(-rc));
	}
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (!kids[i])
			_exit(fault_loop(fd, len, align));
	}
	nanosleep(&ts, NULL);

	snprintf(name, sizeof(name), "%s", basename((char *)dev));
	unbinder = fork();
	if (!unbinder) {
		int c = open("/sys/bus/dax/drivers/device_dax/unbind", O_WRONLY);

		_exit(c >= 0 && write(c, name, strlen(name)) ==
			(ssize_t)strlen(name) ? 0 : 1);
	}
	for (int i = 0; i < 2; i++) {
		waitpid(kids[i], &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "faulting child %d saw the unbind (status %#x)", i, st);
	}
	/*
	 * The children see the unbind as soon as their faults fail, but the
	 * kernel zaps the user mappings last: this process's mapping, fully
	 * populated by the memset above, may still answer until the unbind
	 * returns.  Wait for it before touching the mapping (with a pipe
	 * holding pages the unbind may not return: that case waits below).
	 */
	if (!with_pipe)
		waitpid(unbinder, &ust, 0);
	sigaction(SIGBUS, &sa, NULL);
	volatile int got_bus = 0;
	if (!sigsetjmp(bus_jmp, 1))
		(void)*(volatile uint8_t *)p;
	else
		got_bus = 1;
	check(got_bus, "access to the old mapping raises SIGBUS");
	if (with_pipe) {
		/*
		 * Debian 6.1: the unbind returns at once and frees the struct
		 * pages the pipe still references; draining the pipe then
		 * oopses in page_cache_pipe_buf_release().
		 */
		sleep(1);
		rc = waitpid(unbinder, &st, WNOHANG);
		printf("# behaviour: device-DAX unbind with pages in a pipe: "
		       "%s\n", rc == unbinder ? "returned at once" :
		       "waits until the pages are released");
		fflush(stdout);
		splice_out(pfd);
		waitpid(unbinder, &ust, 0);
	}
	check(WIFEXITED(ust) && WEXITSTATUS(ust) == 0, "unbind %s completed",
	      name);
	void *again = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	int e = again == MAP_FAILED ? errno : 0;
	check(again == MAP_FAILED, "new mmap after unbind fails: %s",
	      strerror(e));
	printf("# behaviour: mmap after device-DAX unbind: %s\n", strerror(e));
	munmap(p, len);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: daxlitetest busy|remove|unbind DEVICE [ARG]\n");
		return 2;
	}
	fd = open(argv[2], O_RDWR);
	check(fd >= 0, "open %s (%s)", argv[2], fd >= 0 ? "ok" : strerror(errno));
	if (fd < 0)
		return 1;
	if (!strcmp(argv[1], "busy"))
		cmd_busy(fd, argc > 3 ? argv[3] : NULL);
	else if (!strcmp(argv[1], "unbind"))
		cmd_unbind(fd, argv[2], argc > 3 && !strcmp(argv[3], "pipe"));
	else if (!strcmp(argv[1], "remove"))
		cmd_remove(fd, argv[2], argc > 3 && !strcmp(argv[3], "rmmod"));
	else
		return 2;
	close(fd);		/* EBADF after "remove ... rmmod": harmless */
	printf("# daxlitetest %s %s: %d failure(s)\n", argv[1], argv[2],
	       failures);
	return failures ? 1 : 0;
}
