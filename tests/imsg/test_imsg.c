/*
 * Unit tests for imsg/: framing, limits, fd passing, hostile headers,
 * the typed reader and writer, the write queue bound, fd leaks.
 *
 * Every test runs between a fixture that makes a fresh nonblocking
 * socketpair with an imsgbuf on each end and, afterwards, checks that the
 * process has exactly as many open descriptors as before.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"

#define MAXPAYLOAD_DEFAULT	(IMSG_MAXSIZE_DEFAULT - IMSG_HEADER_SIZE)
#define MAXPAYLOAD_MAX		(IMSG_MAXSIZE_MAX - IMSG_HEADER_SIZE)

struct fx {
	int		base_fds;
	int		s[2];		/* s[0]: tx's socket, s[1]: rx's */
	struct imsgbuf	tx;
	struct imsgbuf	rx;
};

static int	group_base_fds = -1;

static int
count_fds(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory stream's own descriptor */
}

static int
fx_setup(void **state)
{
	struct fx *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->base_fds = count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    f->s) == -1)
		return -1;
	if (imsgbuf_init(&f->tx, f->s[0]) == -1 ||
	    imsgbuf_init(&f->rx, f->s[1]) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	int base = f->base_fds;

	imsgbuf_clear(&f->tx);
	imsgbuf_clear(&f->rx);
	if (f->s[0] >= 0)
		close(f->s[0]);
	if (f->s[1] >= 0)
		close(f->s[1]);
	free(f);
	/* A leaked descriptor fails the test that leaked it. */
	assert_int_equal(count_fds(), base);
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	group_base_fds = count_fds();
	return group_base_fds < 0 ? -1 : 0;
}

static void
fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 8));
}

static void
mkhdr(unsigned char *p, uint32_t type, uint32_t len, uint32_t peerid,
    uint32_t pid)
{
	struct imsg_hdr h;

	h.type = type;
	h.len = len;
	h.peerid = peerid;
	h.pid = pid;
	memcpy(p, &h, sizeof(h));
}

/* Write all of buf to a nonblocking socket, waiting when it is full. */
static void
raw_write(int s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	struct pollfd pfd;
	ssize_t n;

	while (len > 0) {
		n = write(s, p, len);
		if (n == -1 && errno == EAGAIN) {
			pfd.fd = s;
			pfd.events = POLLOUT;
			assert_int_equal(poll(&pfd, 1, 5000), 1);
			continue;
		}
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* One sendmsg carrying nfds descriptors in a single SCM_RIGHTS. */
static ssize_t
send_fds(int s, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int) * 16)];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct iovec iov;

	assert_true(nfds >= 1 && nfds <= 16);
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	return sendmsg(s, &msg, MSG_NOSIGNAL);
}

/*
 * Nonblocking, so that checking a pipe for EOF ("every write end is
 * closed") fails with EAGAIN instead of hanging when one is leaked.
 */
static int
mkpipe(int p[2])
{
	return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

static int
highest_fd(void)
{
	DIR *d;
	struct dirent *e;
	int n, max = -1;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && (n = atoi(e->d_name)) > max &&
		    n != dirfd(d))
			max = n;
	closedir(d);
	return max;
}

static int
wait_readable(int fd)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 5000) == 1;
}

/*
 * Move bytes until rx yields one message (> 0), EOF with nothing (0), or
 * an error (-1).  tx, when given, is written on every turn.
 */
static ssize_t
get_one(struct imsgbuf *rx, struct imsgbuf *tx, struct imsg *imsg)
{
	ssize_t n;
	int r, i;

	for (i = 0; i < 100000; i++) {
		if (tx != NULL)
			assert_int_equal(imsgbuf_write(tx), 0);
		if ((n = imsg_get(rx, imsg)) != 0)
			return n;
		assert_true(wait_readable(rx->fd));
		if ((r = imsgbuf_read(rx)) == -1)
			return -1;
		if (r == 0)
			return imsg_get(rx, imsg);
	}
	fail_msg("no progress");
	return -1;
}

static void
roundtrip(struct fx *f, size_t len)
{
	unsigned char *out, *in;
	struct imsg imsg;

	out = malloc(len + 1);
	in = malloc(len + 1);
	assert_non_null(out);
	assert_non_null(in);
	fill(out, len, (unsigned int)len);
	assert_int_equal(imsg_compose(&f->tx, 42, 7, 1234, -1, out, len), 1);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg),
	    (ssize_t)(len + IMSG_HEADER_SIZE));
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
	assert_int_equal(imsg_get_type(&imsg), 42);
	assert_int_equal(imsg_get_id(&imsg), 7);
	assert_int_equal(imsg_get_pid(&imsg), 1234);
	assert_int_equal(imsg_get_len(&imsg), len);
	assert_int_equal(imsg_get_fd(&imsg), -1);
	assert_int_equal(imsg_get_data(&imsg, in, len), 0);
	if (len > 0)
		assert_memory_equal(in, out, len);
	imsg_free(&imsg);
	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
	free(out);
	free(in);
}

/* Send raw bytes to rx, then read once and get once: the verdict. */
static ssize_t
raw_verdict(struct fx *f, const void *buf, size_t len)
{
	struct imsg imsg;
	ssize_t n;

	raw_write(f->s[0], buf, len);
	n = get_one(&f->rx, NULL, &imsg);
	if (n > 0)
		imsg_free(&imsg);
	return n;
}

/* ---- set-up and limits ---- */

static void
test_init_errors(void **state)
{
	struct imsgbuf b;
	struct imsg imsg;

	(void)state;
	errno = 0;
	assert_int_equal(imsgbuf_init(&b, -1), -1);
	assert_int_equal(errno, EBADF);
	imsgbuf_clear(&b);
	imsgbuf_clear(&b);
	/* A cleared buffer refuses use instead of crashing. */
	assert_int_equal(imsgbuf_read(&b), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(imsg_get(&b, &imsg), -1);
	assert_int_equal(imsg_compose(&b, 1, 0, 0, -1, NULL, 0), -1);
	assert_int_equal(imsgbuf_write(&b), -1);
}

static void
test_set_maxsize_bounds(void **state)
{
	struct fx *f = *state;

	errno = 0;
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_HEADER_SIZE - 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, 0), -1);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_MAX + 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_HEADER_SIZE), 0);
	/* Header-only is all that fits now. */
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "x", 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, NULL, 0), 1);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_MAX), 0);
}

static void
test_roundtrip_empty(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;

	roundtrip(f, 0);
	assert_int_equal(imsg_compose(&f->tx, 3, 0, 0, -1, NULL, 0), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE);
	assert_null(imsg.data);
	assert_int_equal(imsg_get_data(&imsg, NULL, 0), 0);
	imsg_free(&imsg);
}

static void
test_roundtrip_one(void **state)
{
	roundtrip(*state, 1);
}

static void
test_roundtrip_default_max(void **state)
{
	struct fx *f = *state;
	static unsigned char big[MAXPAYLOAD_DEFAULT + 1];

	roundtrip(f, MAXPAYLOAD_DEFAULT);
	errno = 0;
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, big,
	    MAXPAYLOAD_DEFAULT + 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_null(imsg_create(&f->tx, 1, 0, 0, MAXPAYLOAD_DEFAULT + 1));
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
}

static void
test_roundtrip_64k(void **state)
{
	struct fx *f = *state;

	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_MAX), 0);
	assert_int_equal(imsgbuf_set_maxsize(&f->rx, IMSG_MAXSIZE_MAX), 0);
	roundtrip(f, MAXPAYLOAD_MAX);
	roundtrip(f, MAXPAYLOAD_DEFAULT + 1);
	roundtrip(f, 3);
}

static void
test_64k_to_default_receiver(void **state)
{
	struct fx *f = *state;
	unsigned char *p;
	struct imsg imsg;

	p = calloc(1, MAXPAYLOAD_MAX);
	assert_non_null(p);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_MAX), 0);
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, p,
	    MAXPAYLOAD_DEFAULT + 1), 1);
	errno = 0;
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	free(p);
}

static void
test_many_in_one_read(void **state)
{
	struct fx *f = *state;
	unsigned char buf[200], got[200];
	struct imsg imsg;
	uint32_t i;

	for (i = 0; i < 200; i++) {
		fill(buf, i, i);
		assert_int_equal(imsg_compose(&f->tx, i, i * 3, 0, -1, buf, i),
		    1);
	}
	assert_int_equal(imsgbuf_queuelen(&f->tx), 200);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
	/* 200 * 16 + 199 * 200 / 2 bytes: all of it in one read. */
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	for (i = 0; i < 200; i++) {
		assert_int_equal(imsg_get(&f->rx, &imsg),
		    (ssize_t)(IMSG_HEADER_SIZE + i));
		assert_int_equal(imsg_get_type(&imsg), i);
		assert_int_equal(imsg_get_id(&imsg), i * 3);
		fill(buf, i, i);
		assert_int_equal(imsg_get_data(&imsg, got, i), 0);
		assert_memory_equal(got, buf, i);
		imsg_free(&imsg);
	}
	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
}

static void
test_one_byte_at_a_time(void **state)
{
	struct fx *f = *state;
	unsigned char wire[2 * (IMSG_HEADER_SIZE + 37)], got[37];
	struct imsg imsg;
	size_t i, mlen = IMSG_HEADER_SIZE + 37;

	mkhdr(wire, 5, (uint32_t)mlen, 11, 99);
	fill(wire + IMSG_HEADER_SIZE, 37, 1);
	mkhdr(wire + mlen, 6, (uint32_t)mlen, 12, 99);
	fill(wire + mlen + IMSG_HEADER_SIZE, 37, 2);
	for (i = 0; i < sizeof(wire); i++) {
		raw_write(f->s[0], wire + i, 1);
		assert_true(wait_readable(f->s[1]));
		assert_int_equal(imsgbuf_read(&f->rx), 1);
		if (i + 1 == mlen || i + 1 == 2 * mlen) {
			assert_int_equal(imsg_get(&f->rx, &imsg),
			    (ssize_t)mlen);
			assert_int_equal(imsg_get_type(&imsg),
			    i + 1 == mlen ? 5 : 6);
			assert_int_equal(imsg_get_data(&imsg, got, 37), 0);
			assert_memory_equal(got, wire + i + 1 - 37, 37);
			imsg_free(&imsg);
		} else
			assert_int_equal(imsg_get(&f->rx, &imsg), 0);
	}
}

static void
test_partial_writes(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[MAXPAYLOAD_DEFAULT], got[MAXPAYLOAD_DEFAULT];
	struct imsg imsg;
	int sz = 4096, i;

	/* A tiny socket buffer forces sendmsg to stop inside messages. */
	assert_int_equal(setsockopt(f->s[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	for (i = 0; i < 40; i++) {
		fill(buf, sizeof(buf), (unsigned int)i);
		assert_int_equal(imsg_compose(&f->tx, (uint32_t)i, 0, 0, -1,
		    buf, sizeof(buf)), 1);
	}
	assert_int_equal(imsgbuf_write(&f->tx), 0);
	assert_true(imsgbuf_queuelen(&f->tx) > 0);
	for (i = 0; i < 40; i++) {
		assert_int_equal(get_one(&f->rx, &f->tx, &imsg),
		    (ssize_t)IMSG_MAXSIZE_DEFAULT);
		assert_int_equal(imsg_get_type(&imsg), i);
		fill(buf, sizeof(buf), (unsigned int)i);
		assert_int_equal(imsg_get_data(&imsg, got, sizeof(got)), 0);
		assert_memory_equal(got, buf, sizeof(buf));
		imsg_free(&imsg);
	}
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
}

static void
test_read_buffer_full(void **state)
{
	struct fx *f = *state;
	unsigned char buf[1000];
	struct imsg imsg;
	int i, got = 0;

	/* 100 KB of messages, read without draining until reads stall. */
	memset(buf, 0xa5, sizeof(buf));
	for (i = 0; i < 100; i++)
		assert_int_equal(imsg_compose(&f->tx, 1, (uint32_t)i, 0, -1,
		    buf, sizeof(buf)), 1);
	for (i = 0; i < 200; i++) {
		assert_int_equal(imsgbuf_write(&f->tx), 0);
		assert_int_equal(imsgbuf_read(&f->rx), 1);
	}
	while (got < 100) {
		ssize_t n = get_one(&f->rx, &f->tx, &imsg);

		assert_int_equal(n, (ssize_t)(IMSG_HEADER_SIZE + sizeof(buf)));
		assert_int_equal(imsg_get_id(&imsg), got);
		imsg_free(&imsg);
		got++;
	}
}

static void
test_composev(void **state)
{
	struct fx *f = *state;
	struct iovec iov[3];
	struct imsg imsg;
	char got[11];

	iov[0].iov_base = (void *)(uintptr_t)"abc";
	iov[0].iov_len = 3;
	iov[1].iov_base = NULL;
	iov[1].iov_len = 0;
	iov[2].iov_base = (void *)(uintptr_t)"defghijk";
	iov[2].iov_len = 8;
	assert_int_equal(imsg_composev(&f->tx, 9, 1, 2, -1, iov, 3), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE + 11);
	assert_int_equal(imsg_get_data(&imsg, got, 11), 0);
	assert_memory_equal(got, "abcdefghijk", 11);
	imsg_free(&imsg);
	assert_int_equal(imsg_composev(&f->tx, 9, 1, 2, -1, NULL, -1), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_create_add_close(void **state)
{
	struct fx *f = *state;
	static unsigned char big[MAXPAYLOAD_DEFAULT];
	struct ibuf *m;
	struct imsg imsg;
	char got[9];

	/* A small size hint, then growth past it. */
	assert_non_null(m = imsg_create(&f->tx, 77, 5, 6, 2));
	assert_int_equal(imsg_add(m, "ab", 2), 2);
	assert_int_equal(imsg_add(m, "cdefghi", 7), 7);
	assert_int_equal(imsg_add(m, NULL, 0), 0);
	assert_int_equal(imsg_close(&f->tx, m), 0);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE + 9);
	assert_int_equal(imsg_get_type(&imsg), 77);
	assert_int_equal(imsg_get_data(&imsg, got, 9), 0);
	assert_memory_equal(got, "abcdefghi", 9);
	imsg_free(&imsg);

	/* Growing past the maximum frees the message (ASan checks). */
	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add(m, big, sizeof(big)), (int)sizeof(big));
	errno = 0;
	assert_int_equal(imsg_add(m, "x", 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);

	/* Built under a larger maximum than the one in force at close. */
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_MAX), 0);
	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add(m, big, sizeof(big)), (int)sizeof(big));
	assert_int_equal(imsg_add(m, "x", 1), 1);
	assert_int_equal(imsgbuf_set_maxsize(&f->tx, IMSG_MAXSIZE_DEFAULT), 0);
	errno = 0;
	assert_int_equal(imsg_close(&f->tx, m), -1);
	assert_int_equal(errno, ERANGE);

	/* Abandoning a message under construction. */
	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 10));
	assert_int_equal(imsg_add(m, "secret", 6), 6);
	imsg_abort(m);
	assert_int_equal(imsg_add(NULL, "x", 1), -1);
	assert_int_equal(imsg_close(&f->tx, NULL), -1);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
}

/* ---- descriptors ---- */

static void
check_pipe_through(int wfd, int rfd, const char *word)
{
	char got[32];
	size_t len = strlen(word);

	assert_int_equal(write(wfd, word, len), (ssize_t)len);
	assert_int_equal(read(rfd, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, word, len);
}

static void
test_fdpass_pipe(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;
	int p[2], fd, flags;

	assert_int_equal(mkpipe(p), 0);
	imsgbuf_allow_fdpass(&f->rx);
	/* The library owns p[1] from here: it closes it once sent. */
	assert_int_equal(imsg_compose(&f->tx, 8, 0, 0, p[1], "fd", 2), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE + 2);
	assert_true(imsg.hdr.len & IMSG_FDBIT);
	assert_int_equal(imsg_get_len(&imsg), 2);
	fd = imsg_get_fd(&imsg);
	assert_true(fd >= 0);
	assert_int_equal(imsg_get_fd(&imsg), -1);
	flags = fcntl(fd, F_GETFD);
	assert_true(flags & FD_CLOEXEC);
	imsg_free(&imsg);	/* must not close what we took */
	check_pipe_through(fd, p[0], "hello");
	close(fd);
	close(p[0]);
}

static void
test_fdpass_interleaved(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;
	int p[3][2], i, k = 0, fd;
	char word[8];

	imsgbuf_allow_fdpass(&f->rx);
	for (i = 0; i < 3; i++)
		assert_int_equal(mkpipe(p[i]), 0);
	/* plain, fd, plain, fd, fd, plain: queued, then written together. */
	assert_int_equal(imsg_compose(&f->tx, 0, 0, 0, -1, "a", 1), 1);
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, p[0][1], "b", 1), 1);
	assert_int_equal(imsg_compose(&f->tx, 0, 1, 0, -1, "c", 1), 1);
	assert_int_equal(imsg_compose(&f->tx, 1, 1, 0, p[1][1], NULL, 0), 1);
	assert_int_equal(imsg_compose(&f->tx, 1, 2, 0, p[2][1], "e", 1), 1);
	assert_int_equal(imsg_compose(&f->tx, 0, 2, 0, -1, "f", 1), 1);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	for (i = 0; i < 6; i++) {
		assert_true(get_one(&f->rx, NULL, &imsg) > 0);
		fd = imsg_get_fd(&imsg);
		if (imsg_get_type(&imsg) == 1) {
			assert_true(fd >= 0);
			assert_int_equal(imsg_get_id(&imsg), k);
			word[0] = (char)('x' + k);
			word[1] = '\0';
			check_pipe_through(fd, p[k][0], word);
			close(fd);
			k++;
		} else
			assert_int_equal(fd, -1);
		imsg_free(&imsg);
	}
	assert_int_equal(k, 3);
	for (i = 0; i < 3; i++)
		close(p[i][0]);
}

static void
test_fdpass_refused(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;
	int p[2];

	assert_int_equal(mkpipe(p), 0);
	/* rx did not call imsgbuf_allow_fdpass. */
	assert_int_equal(imsg_compose(&f->tx, 8, 0, 0, p[1], "fd", 2), 1);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	assert_true(wait_readable(f->s[1]));
	errno = 0;
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(errno, EBADMSG);
	/* The failure sticks: the stream cannot be trusted any more. */
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(imsg_get(&f->rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	/* The write end was closed by both sides: the pipe reads EOF. */
	assert_int_equal(read(p[0], &imsg, 1), 0);
	close(p[0]);
}

static void
test_fd_refused_plain_message(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	int p[2];

	/* No IMSG_FDBIT in the header: only the descriptor gives it away. */
	assert_int_equal(mkpipe(p), 0);
	mkhdr(wire, 1, IMSG_HEADER_SIZE, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), &p[1], 1),
	    (ssize_t)sizeof(wire));
	close(p[1]);
	assert_true(wait_readable(f->s[1]));
	errno = 0;
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(read(p[0], wire, 1), 0);
	close(p[0]);
}

static void
test_fd_arrives_late(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE + 8];
	struct imsg imsg;
	int p[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	mkhdr(wire, 1, (uint32_t)sizeof(wire) | IMSG_FDBIT, 0, 0);
	memset(wire + IMSG_HEADER_SIZE, 'p', 8);
	raw_write(f->s[0], wire, IMSG_HEADER_SIZE);
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
	/* The descriptor comes with the payload, not the first byte. */
	assert_int_equal(send_fds(f->s[0], wire + IMSG_HEADER_SIZE, 8, &p[1],
	    1), 8);
	close(p[1]);
	errno = 0;
	assert_int_equal(get_one(&f->rx, NULL, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(read(p[0], wire, 1), 0);
	close(p[0]);
}

static void
test_fd_not_installed(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	struct rlimit old, lim;
	int p[2], dups[256], ndup = 0, r, saved, top, i;

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	mkhdr(wire, 1, IMSG_HEADER_SIZE, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), &p[1], 1),
	    (ssize_t)sizeof(wire));
	close(p[1]);
	assert_true(wait_readable(f->s[1]));

	/*
	 * With no descriptor number free, the kernel drops the descriptor
	 * and sets MSG_CTRUNC: the one sign that something went missing.
	 */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true((top = highest_fd()) >= 0);
	lim = old;
	lim.rlim_cur = (rlim_t)top + 1;
	if (setrlimit(RLIMIT_NOFILE, &lim) == -1) {
		/* Some environments (valgrind) will not lower it. */
		close(p[0]);
		skip();
	}
	while (ndup < 256 && (dups[ndup] = dup(f->s[0])) != -1)
		ndup++;
	r = imsgbuf_read(&f->rx);
	saved = errno;
	for (i = 0; i < ndup; i++)
		close(dups[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (ndup == 256) {
		close(p[0]);
		skip();
	}
	assert_int_equal(r, -1);
	assert_int_equal(saved, EBADMSG);
	assert_int_equal(read(p[0], wire, 1), 0);
	close(p[0]);
}

static void
test_fdbit_without_fd(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE + 4];

	imsgbuf_allow_fdpass(&f->rx);
	mkhdr(wire, 1, (uint32_t)sizeof(wire) | IMSG_FDBIT, 0, 0);
	memset(wire + IMSG_HEADER_SIZE, 0, 4);
	errno = 0;
	assert_int_equal(raw_verdict(f, wire, sizeof(wire)), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_fdbit_fdpass_disabled(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];

	mkhdr(wire, 1, (uint32_t)sizeof(wire) | IMSG_FDBIT, 0, 0);
	raw_write(f->s[0], wire, sizeof(wire));
	assert_true(wait_readable(f->s[1]));
	errno = 0;
	/* Refused on sight of the header. */
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_fd_unclaimed(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	struct imsg imsg;
	int p[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	/* A descriptor with a message that does not claim one ... */
	mkhdr(wire, 1, IMSG_HEADER_SIZE, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), &p[1], 1),
	    (ssize_t)sizeof(wire));
	close(p[1]);
	assert_int_equal(get_one(&f->rx, NULL, &imsg), IMSG_HEADER_SIZE);
	assert_int_equal(imsg_get_fd(&imsg), -1);
	imsg_free(&imsg);
	/* ... is found out when the stream moves past it. */
	raw_write(f->s[0], wire, sizeof(wire));
	errno = 0;
	assert_int_equal(get_one(&f->rx, NULL, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	/* And it was closed: the pipe's last writer is gone. */
	assert_int_equal(read(p[0], wire, 1), 0);
	close(p[0]);
}

static void
test_fd_claim_from_earlier_read(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	struct imsg imsg;
	int p[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	/* The fd arrives with one message, a later one claims it. */
	mkhdr(wire, 1, IMSG_HEADER_SIZE, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), &p[1], 1),
	    (ssize_t)sizeof(wire));
	close(p[1]);
	assert_int_equal(get_one(&f->rx, NULL, &imsg), IMSG_HEADER_SIZE);
	imsg_free(&imsg);
	mkhdr(wire, 2, IMSG_HEADER_SIZE | IMSG_FDBIT, 0, 0);
	raw_write(f->s[0], wire, sizeof(wire));
	assert_int_equal(get_one(&f->rx, NULL, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(read(p[0], wire, 1), 0);
	close(p[0]);
}

static void
test_two_fds_one_message(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	int p[2], q[2], fds[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	assert_int_equal(mkpipe(q), 0);
	fds[0] = p[1];
	fds[1] = q[1];
	mkhdr(wire, 1, IMSG_HEADER_SIZE | IMSG_FDBIT, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), fds, 2),
	    (ssize_t)sizeof(wire));
	close(p[1]);
	close(q[1]);
	assert_true(wait_readable(f->s[1]));
	errno = 0;
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(read(p[0], wire, 1), 0);
	assert_int_equal(read(q[0], wire, 1), 0);
	close(p[0]);
	close(q[0]);
}

static void
test_many_fds_truncated(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	int fds[12], i, devnull;

	imsgbuf_allow_fdpass(&f->rx);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	for (i = 0; i < 12; i++)
		fds[i] = devnull;
	mkhdr(wire, 1, IMSG_HEADER_SIZE | IMSG_FDBIT, 0, 0);
	assert_int_equal(send_fds(f->s[0], wire, sizeof(wire), fds, 12),
	    (ssize_t)sizeof(wire));
	close(devnull);
	assert_true(wait_readable(f->s[1]));
	errno = 0;
	/* MSG_CTRUNC: whatever did arrive is closed, and the read fails. */
	assert_int_equal(imsgbuf_read(&f->rx), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_imsg_free_closes_fd(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;
	int p[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	assert_int_equal(imsg_compose(&f->tx, 8, 0, 0, p[1], NULL, 0), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE);
	imsg_free(&imsg);	/* never took it: closed here */
	assert_null(imsg.data);
	assert_int_equal(imsg.fd, -1);
	imsg_free(&imsg);
	assert_int_equal(read(p[0], &imsg, 1), 0);
	close(p[0]);
}

static void
test_pending_fds_closed_on_clear(void **state)
{
	struct fx *f = *state;
	int p[2];

	imsgbuf_allow_fdpass(&f->rx);
	assert_int_equal(mkpipe(p), 0);
	assert_int_equal(imsg_compose(&f->tx, 8, 0, 0, p[1], NULL, 0), 1);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	/* Never fetched with imsg_get: the teardown's clear must close it. */
	close(p[0]);
}

static void
test_compose_failure_closes_fd(void **state)
{
	struct fx *f = *state;
	static unsigned char big[MAXPAYLOAD_DEFAULT + 1];
	int p[2];

	assert_int_equal(mkpipe(p), 0);
	assert_int_equal(imsg_compose(&f->tx, 8, 0, 0, p[1], big,
	    sizeof(big)), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(read(p[0], big, 1), 0);
	close(p[0]);
}

/* ---- end of stream ---- */

static void
test_eof_mid_message(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE + 10];
	struct imsg imsg;

	mkhdr(wire, 1, IMSG_HEADER_SIZE + 20, 0, 0);
	memset(wire + IMSG_HEADER_SIZE, 'x', 10);
	raw_write(f->s[0], wire, sizeof(wire));
	close(f->s[0]);
	f->s[0] = -1;
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
	assert_int_equal(imsgbuf_read(&f->rx), 0);
	errno = 0;
	assert_int_equal(imsg_get(&f->rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_eof_mid_header(void **state)
{
	struct fx *f = *state;
	unsigned char wire[IMSG_HEADER_SIZE];
	struct imsg imsg;

	mkhdr(wire, 1, IMSG_HEADER_SIZE, 0, 0);
	raw_write(f->s[0], wire, 7);
	close(f->s[0]);
	f->s[0] = -1;
	assert_int_equal(get_one(&f->rx, NULL, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_eof_clean(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;

	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "abc", 3), 1);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	close(f->s[0]);
	f->s[0] = -1;
	assert_int_equal(get_one(&f->rx, NULL, &imsg), IMSG_HEADER_SIZE + 3);
	imsg_free(&imsg);
	assert_int_equal(imsgbuf_read(&f->rx), 0);
	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
}

static void
test_write_to_closed_peer(void **state)
{
	struct fx *f = *state;

	close(f->s[1]);
	f->s[1] = -1;
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "abc", 3), 1);
	/* EPIPE, and no SIGPIPE to kill us. */
	errno = 0;
	assert_int_equal(imsgbuf_write(&f->tx), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(imsgbuf_flush(&f->tx), -1);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 1);
}

/* ---- hostile headers ---- */

static void
bad_len(struct fx *f, uint32_t len)
{
	unsigned char wire[IMSG_HEADER_SIZE];

	mkhdr(wire, 1, len, 0, 0);
	errno = 0;
	assert_int_equal(raw_verdict(f, wire, sizeof(wire)), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_bad_len_zero(void **state)
{
	bad_len(*state, 0);
}

static void
test_bad_len_below_header(void **state)
{
	bad_len(*state, IMSG_HEADER_SIZE - 1);
}

static void
test_bad_len_over_max(void **state)
{
	bad_len(*state, IMSG_MAXSIZE_DEFAULT + 1);
}

static void
test_bad_len_huge(void **state)
{
	bad_len(*state, 0x7fffffffu);
}

static void
test_bad_len_fdbit_only(void **state)
{
	struct fx *f = *state;

	imsgbuf_allow_fdpass(&f->rx);
	/* The flag bit alone: the length it leaves is 0. */
	bad_len(f, IMSG_FDBIT);
}

static void
test_bad_len_after_set_maxsize(void **state)
{
	struct fx *f = *state;
	unsigned char wire[1024];

	assert_int_equal(imsgbuf_set_maxsize(&f->rx, 1024), 0);
	memset(wire, 0, sizeof(wire));
	mkhdr(wire, 1, 1024, 0, 0);
	assert_int_equal(raw_verdict(f, wire, 1024), 1024);
	bad_len(f, 1025);
}

static void
test_bad_header_after_good(void **state)
{
	struct fx *f = *state;
	unsigned char wire[2 * IMSG_HEADER_SIZE + 3];
	struct imsg imsg;

	mkhdr(wire, 1, IMSG_HEADER_SIZE + 3, 0, 0);
	memcpy(wire + IMSG_HEADER_SIZE, "abc", 3);
	mkhdr(wire + IMSG_HEADER_SIZE + 3, 2, 3, 0, 0);
	raw_write(f->s[0], wire, sizeof(wire));
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	assert_int_equal(imsg_get(&f->rx, &imsg), IMSG_HEADER_SIZE + 3);
	imsg_free(&imsg);
	errno = 0;
	assert_int_equal(imsg_get(&f->rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(imsg_get(&f->rx, &imsg), -1);
	assert_int_equal(imsgbuf_read(&f->rx), -1);
}

static void
test_lowered_maxsize_pending(void **state)
{
	struct fx *f = *state;
	unsigned char buf[100];
	struct imsg imsg;

	memset(buf, 1, sizeof(buf));
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, buf, sizeof(buf)),
	    1);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	/* Already buffered, but no longer acceptable. */
	assert_int_equal(imsgbuf_set_maxsize(&f->rx, 64), 0);
	assert_int_equal(imsg_get(&f->rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
}

/* ---- received data handling ---- */

static void
test_get_data_exact(void **state)
{
	struct fx *f = *state;
	unsigned char out[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, in[9];
	struct imsg imsg;

	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, out, 8), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_HEADER_SIZE + 8);
	errno = 0;
	assert_int_equal(imsg_get_data(&imsg, in, 7), -1);
	assert_int_equal(errno, EBADMSG);
	errno = 0;
	assert_int_equal(imsg_get_data(&imsg, in, 9), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(imsg_get_data(&imsg, in, 0), -1);
	assert_int_equal(imsg_get_data(&imsg, in, 8), 0);
	assert_memory_equal(in, out, 8);
	imsg_free(&imsg);
}

static void
test_read_buffer_zeroised(void **state)
{
	struct fx *f = *state;
	const char secret[] = "correct horse battery staple";
	struct imsg imsg;
	size_t i;

	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, secret,
	    sizeof(secret)), 1);
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg),
	    (ssize_t)(IMSG_HEADER_SIZE + sizeof(secret)));
	/* The consumed bytes, header and payload, are gone from rbuf. */
	assert_true(f->rx.rlen >= IMSG_HEADER_SIZE + sizeof(secret));
	for (i = 0; i < f->rx.rlen; i++)
		assert_int_equal(f->rx.rbuf[i], 0);
	imsg_free(&imsg);
}

static void
test_compaction_zeroised(void **state)
{
	struct fx *f = *state;
	unsigned char wire[24 + IMSG_HEADER_SIZE + 1001];
	struct imsg imsg;
	size_t i, oldlen;

	mkhdr(wire, 1, 24, 0, 0);
	memset(wire + IMSG_HEADER_SIZE, 0x11, 8);
	mkhdr(wire + 24, 2, IMSG_HEADER_SIZE + 1001, 0, 0);
	memset(wire + 24 + IMSG_HEADER_SIZE, 0x5a, 1001);
	/* One whole message and all but the last byte of the next. */
	raw_write(f->s[0], wire, sizeof(wire) - 1);
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	oldlen = f->rx.rlen;
	assert_int_equal(oldlen, sizeof(wire) - 1);
	assert_int_equal(imsg_get(&f->rx, &imsg), 24);
	imsg_free(&imsg);
	/* The next read moves the partial message down: no copy may stay. */
	raw_write(f->s[0], wire + sizeof(wire) - 1, 1);
	assert_true(wait_readable(f->s[1]));
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	assert_int_equal(imsg_get(&f->rx, &imsg), IMSG_HEADER_SIZE + 1001);
	imsg_free(&imsg);
	for (i = 0; i < oldlen; i++)
		assert_int_equal(f->rx.rbuf[i], 0);
}

static void
test_get_before_anything(void **state)
{
	struct fx *f = *state;
	struct imsg imsg;

	assert_int_equal(imsg_get(&f->rx, &imsg), 0);
	assert_int_equal(imsg.fd, -1);
	assert_null(imsg.data);
	imsg_free(&imsg);
	/* Nothing to read on a nonblocking socket is not an error. */
	assert_int_equal(imsgbuf_read(&f->rx), 1);
	assert_int_equal(imsgbuf_write(&f->tx), 0);
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
}

/* ---- write queue bound ---- */

static void
test_queue_bound(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[MAXPAYLOAD_DEFAULT];
	struct imsg imsg;
	struct ibuf *m;
	int i, p[2];

	for (i = 0; i < 64; i++)
		assert_int_equal(imsg_compose(&f->tx, 1, (uint32_t)i, 0, -1,
		    buf, sizeof(buf)), 1);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 64);
	/* 64 * 16 KiB is exactly the 1 MiB bound: nothing more fits. */
	errno = 0;
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, NULL, 0), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 4));
	assert_int_equal(imsg_add_u32(m, 1), 0);
	errno = 0;
	assert_int_equal(imsg_close(&f->tx, m), -1);
	assert_int_equal(errno, ENOBUFS);
	/* A refused message's descriptor is closed, not leaked. */
	assert_int_equal(mkpipe(p), 0);
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, p[1], NULL, 0), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(read(p[0], buf, 1), 0);
	close(p[0]);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 64);

	/* Draining makes room again. */
	assert_int_equal(get_one(&f->rx, &f->tx, &imsg), IMSG_MAXSIZE_DEFAULT);
	imsg_free(&imsg);
	assert_true(imsgbuf_queuelen(&f->tx) < 64);
	assert_int_equal(imsg_compose(&f->tx, 2, 0, 0, -1, buf, sizeof(buf)),
	    1);
	for (i = 1; i < 65; i++) {
		assert_int_equal(get_one(&f->rx, &f->tx, &imsg),
		    IMSG_MAXSIZE_DEFAULT);
		assert_int_equal(imsg_get_type(&imsg), i < 64 ? 1 : 2);
		imsg_free(&imsg);
	}
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
}

/*
 * The reader in a child process.  No cmocka asserts here: a failing one
 * would unwind into the child's copy of the test runner.
 */
static int
child_read_all(struct imsgbuf *rx, unsigned char *want)
{
	static unsigned char got[MAXPAYLOAD_DEFAULT];
	struct imsg imsg;
	ssize_t n;
	uint32_t i = 0;

	while (i < 64) {
		while ((n = imsg_get(rx, &imsg)) > 0) {
			fill(want, MAXPAYLOAD_DEFAULT, i);
			if (n != IMSG_MAXSIZE_DEFAULT ||
			    imsg_get_type(&imsg) != i ||
			    imsg_get_data(&imsg, got, sizeof(got)) == -1 ||
			    memcmp(got, want, sizeof(got)) != 0)
				return 1;
			imsg_free(&imsg);
			i++;
		}
		if (n == -1)
			return 1;
		if (i == 64)
			break;
		if (!wait_readable(rx->fd))
			return 1;
		if (imsgbuf_read(rx) != 1)
			return 1;
	}
	return 0;
}

static void
test_flush_to_reader(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[MAXPAYLOAD_DEFAULT];
	pid_t pid;
	int i, status;

	for (i = 0; i < 64; i++) {
		fill(buf, sizeof(buf), (unsigned int)i);
		assert_int_equal(imsg_compose(&f->tx, (uint32_t)i, 0, 0, -1,
		    buf, sizeof(buf)), 1);
	}
	/* More than the socket holds: flush must wait for the reader. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_read_all(&f->rx, buf));
	assert_int_equal(imsgbuf_flush(&f->tx), 0);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- typed writer and reader ---- */

static void
get_typed(struct fx *f, struct ibuf *m, struct imsg *imsg)
{
	assert_int_equal(imsg_close(&f->tx, m), 0);
	assert_true(get_one(&f->rx, &f->tx, imsg) > 0);
}

static void
test_typed_roundtrip(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	struct ibuf *m;
	const void *lb;
	size_t lblen;
	uint32_t u32;
	uint64_t u64;
	char s[16], raw[3];

	assert_non_null(m = imsg_create(&f->tx, 10, 0, 0, 64));
	assert_int_equal(imsg_add_u32(m, 0x01020304u), 0);
	assert_int_equal(imsg_add_u64(m, 0x1122334455667788ull), 0);
	assert_int_equal(imsg_add_lbytes(m, "\0\1\2\3", 4), 0);
	assert_int_equal(imsg_add_string(m, "keyholder"), 0);
	assert_int_equal(imsg_add_string(m, ""), 0);
	assert_int_equal(imsg_add_lbytes(m, NULL, 0), 0);
	assert_int_equal(imsg_add(m, "xyz", 3), 3);
	get_typed(f, m, &imsg);
	assert_int_equal(imsg_get_len(&imsg),
	    4 + 8 + 4 + 4 + 4 + 9 + 4 + 4 + 3);
	/* Integers are big-endian on the wire. */
	assert_memory_equal(imsg.data, "\1\2\3\4\x11\x22\x33\x44\x55\x66\x77"
	    "\x88\0\0\0\4", 16);

	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x01020304u);
	assert_int_equal(imsg_read_u64(&r, &u64), 0);
	assert_true(u64 == 0x1122334455667788ull);
	assert_int_equal(imsg_read_lbytes(&r, &lb, &lblen, 4), 0);
	assert_int_equal(lblen, 4);
	assert_memory_equal(lb, "\0\1\2\3", 4);
	assert_int_equal(imsg_read_string(&r, s, sizeof(s)), 0);
	assert_string_equal(s, "keyholder");
	assert_int_equal(imsg_read_string(&r, s, 1), 0);
	assert_string_equal(s, "");
	assert_int_equal(imsg_read_lbytes(&r, &lb, &lblen, 0), 0);
	assert_int_equal(lblen, 0);
	assert_non_null(lb);
	assert_int_equal(imsg_read_bytes(&r, raw, 3), 0);
	assert_memory_equal(raw, "xyz", 3);
	assert_int_equal(imsg_read_end(&r), 0);
	imsg_free(&imsg);
}

static void
test_reader_short(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	uint32_t u32 = 99;
	uint64_t u64 = 99;
	unsigned char b[4];

	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "\0\0\0\1\0\0", 6),
	    1);
	assert_true(get_one(&f->rx, &f->tx, &imsg) > 0);
	imsg_reader_init(&r, &imsg);
	errno = 0;
	assert_int_equal(imsg_read_u64(&r, &u64), -1);
	assert_int_equal(errno, EBADMSG);
	assert_true(u64 == 0);
	/* Six bytes are there, but the reader has failed for good. */
	assert_int_equal(imsg_read_u32(&r, &u32), -1);
	assert_int_equal(u32, 0);
	assert_int_equal(imsg_read_end(&r), -1);
	assert_int_equal(errno, EBADMSG);

	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_u32(&r, &u32), 0);
	assert_int_equal(u32, 1);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(imsg_read_bytes(&r, b, 3), -1);
	assert_int_equal(b[0], 0);	/* no stale bytes handed out */
	assert_int_equal(imsg_read_end(&r), -1);

	/* A reader over an empty payload. */
	imsg_free(&imsg);
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, NULL, 0), 1);
	assert_true(get_one(&f->rx, &f->tx, &imsg) > 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_end(&r), 0);
	assert_int_equal(imsg_read_u32(&r, &u32), -1);
	assert_int_equal(imsg_read_end(&r), -1);
	imsg_free(&imsg);
}

static void
test_reader_leftover(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	uint32_t u32;

	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "\0\0\0\5!", 5), 1);
	assert_true(get_one(&f->rx, &f->tx, &imsg) > 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_u32(&r, &u32), 0);
	assert_int_equal(u32, 5);
	errno = 0;
	assert_int_equal(imsg_read_end(&r), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);
}

static void
test_reader_string_nul(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	struct ibuf *m;
	char s[32];

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 9));
	assert_int_equal(imsg_add_lbytes(m, "ab\0cd", 5), 0);
	get_typed(f, m, &imsg);
	imsg_reader_init(&r, &imsg);
	errno = 0;
	assert_int_equal(imsg_read_string(&r, s, sizeof(s)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_string_equal(s, "");
	assert_int_equal(imsg_read_end(&r), -1);
	imsg_free(&imsg);
}

static void
test_reader_string_too_long(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	struct ibuf *m;
	char s[6];

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 9));
	assert_int_equal(imsg_add_string(m, "hello"), 0);
	get_typed(f, m, &imsg);
	imsg_reader_init(&r, &imsg);
	errno = 0;
	assert_int_equal(imsg_read_string(&r, s, 5), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_string(&r, s, 6), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(imsg_read_end(&r), 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_string(&r, NULL, 0), -1);
	assert_int_equal(imsg_read_end(&r), -1);
	imsg_free(&imsg);
}

static void
test_reader_string_truncated(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	char s[64];

	/* Claims 10 bytes, carries 3. */
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "\0\0\0\12abc", 7),
	    1);
	assert_true(get_one(&f->rx, &f->tx, &imsg) > 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_string(&r, s, sizeof(s)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_string_equal(s, "");
	imsg_free(&imsg);
}

static void
test_reader_lbytes_bounds(void **state)
{
	struct fx *f = *state;
	struct imsg_reader r;
	struct imsg imsg;
	struct ibuf *m;
	const void *p;
	size_t len;

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 14));
	assert_int_equal(imsg_add_lbytes(m, "0123456789", 10), 0);
	get_typed(f, m, &imsg);
	imsg_reader_init(&r, &imsg);
	errno = 0;
	assert_int_equal(imsg_read_lbytes(&r, &p, &len, 9), -1);
	assert_int_equal(errno, EBADMSG);
	assert_null(p);
	assert_int_equal(len, 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_lbytes(&r, &p, &len, 10), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(p, "0123456789", 10);
	assert_int_equal(imsg_read_end(&r), 0);
	imsg_free(&imsg);

	/* A length past the end of the payload, under a generous max. */
	assert_int_equal(imsg_compose(&f->tx, 1, 0, 0, -1, "\xff\xff\xff\xff"
	    "ab", 6), 1);
	assert_true(get_one(&f->rx, &f->tx, &imsg) > 0);
	imsg_reader_init(&r, &imsg);
	assert_int_equal(imsg_read_lbytes(&r, &p, &len, SIZE_MAX), -1);
	assert_int_equal(imsg_read_end(&r), -1);
	imsg_free(&imsg);
}

static void
test_typed_writer_failures(void **state)
{
	struct fx *f = *state;
	static unsigned char big[MAXPAYLOAD_DEFAULT];
	struct ibuf *m;

	/* Each failure frees the message: ASan would report a leak. */
	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add(m, big, sizeof(big) - 2), (int)sizeof(big) - 2);
	assert_int_equal(imsg_add_u32(m, 1), -1);
	assert_int_equal(errno, ERANGE);

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add(m, big, sizeof(big) - 6), (int)sizeof(big) - 6);
	assert_int_equal(imsg_add_u64(m, 1), -1);

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add_lbytes(m, big, sizeof(big) - 3), -1);

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add_string(m, NULL), -1);
	assert_int_equal(errno, EINVAL);

	assert_non_null(m = imsg_create(&f->tx, 1, 0, 0, 0));
	assert_int_equal(imsg_add_lbytes(m, NULL, 3), -1);
	assert_int_equal(imsg_add_u32(NULL, 1), -1);
	assert_int_equal(imsgbuf_queuelen(&f->tx), 0);
}

/* ---- the whole run ---- */

static void
test_zz_no_fd_leak(void **state)
{
	(void)state;
	assert_true(group_base_fds >= 0);
	assert_int_equal(count_fds(), group_base_fds);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		T(test_set_maxsize_bounds),
		T(test_roundtrip_empty),
		T(test_roundtrip_one),
		T(test_roundtrip_default_max),
		T(test_roundtrip_64k),
		T(test_64k_to_default_receiver),
		T(test_many_in_one_read),
		T(test_one_byte_at_a_time),
		T(test_partial_writes),
		T(test_read_buffer_full),
		T(test_composev),
		T(test_create_add_close),
		T(test_fdpass_pipe),
		T(test_fdpass_interleaved),
		T(test_fdpass_refused),
		T(test_fd_refused_plain_message),
		T(test_fd_arrives_late),
		T(test_fd_not_installed),
		T(test_fdbit_without_fd),
		T(test_fdbit_fdpass_disabled),
		T(test_fd_unclaimed),
		T(test_fd_claim_from_earlier_read),
		T(test_two_fds_one_message),
		T(test_many_fds_truncated),
		T(test_imsg_free_closes_fd),
		T(test_pending_fds_closed_on_clear),
		T(test_compose_failure_closes_fd),
		T(test_eof_mid_message),
		T(test_eof_mid_header),
		T(test_eof_clean),
		T(test_write_to_closed_peer),
		T(test_bad_len_zero),
		T(test_bad_len_below_header),
		T(test_bad_len_over_max),
		T(test_bad_len_huge),
		T(test_bad_len_fdbit_only),
		T(test_bad_len_after_set_maxsize),
		T(test_bad_header_after_good),
		T(test_lowered_maxsize_pending),
		T(test_get_data_exact),
		T(test_read_buffer_zeroised),
		T(test_compaction_zeroised),
		T(test_get_before_anything),
		T(test_queue_bound),
		T(test_flush_to_reader),
		T(test_typed_roundtrip),
		T(test_reader_short),
		T(test_reader_leftover),
		T(test_reader_string_nul),
		T(test_reader_string_too_long),
		T(test_reader_string_truncated),
		T(test_reader_lbytes_bounds),
		T(test_typed_writer_failures),
		cmocka_unit_test(test_zz_no_fd_leak),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
