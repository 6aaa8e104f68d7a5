/*
 * Fuzz target for imsg/: the bytes a hostile peer can put on the socket.
 *
 * Input layout:
 *   byte 0   options: bit 0 allow fdpass, bit 1 maxsize 64 KiB,
 *            bit 2 maxsize 16 + 4 * byte 1 (overrides bit 1),
 *            bits 4-7 chunk size selector
 *   byte 1   descriptor pattern: bit i attaches /dev/null to chunk i
 *   rest     the stream, written to one end of a socketpair in chunks
 *
 * The other end reads with imsgbuf_read / imsg_get and runs the typed
 * reader over every message.  Each message is also sent back through a
 * second channel with imsg_compose and must arrive unchanged, which covers
 * the write path.  Descriptor leaks are caught by watching the numbers
 * socketpair hands out: they climb if anything is left open.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FD_LEAK_LIMIT	256

struct echo {
	int		s[2];
	struct imsgbuf	tx;
	struct imsgbuf	rx;
};

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* Run the typed reader in one of a few shapes chosen by the type. */
static void
typed_reads(const struct imsg *imsg)
{
	struct imsg_reader r;
	const void *p;
	size_t len, plen = imsg_get_len(imsg);
	uint32_t u32;
	uint64_t u64;
	char s[32], big[256];
	unsigned char b[8];
	int ok;

	imsg_reader_init(&r, imsg);
	switch (imsg_get_type(imsg) % 4) {
	case 0:
		ok = imsg_read_u32(&r, &u32) == 0;
		ok &= imsg_read_u64(&r, &u64) == 0;
		ok &= imsg_read_lbytes(&r, &p, &len, 64) == 0;
		ok &= imsg_read_string(&r, s, sizeof(s)) == 0;
		if (imsg_read_end(&r) == 0)
			check(ok && plen >= 4 + 8 + 4 + 4);
		else
			check(errno == EBADMSG);
		break;
	case 1:
		while (imsg_read_string(&r, big, sizeof(big)) == 0)
			check(strlen(big) < sizeof(big));
		/* Once failed, a reader stays failed. */
		check(imsg_read_end(&r) == -1);
		break;
	case 2:
		(void)imsg_read_bytes(&r, b, sizeof(b));
		if (imsg_read_lbytes(&r, &p, &len, SIZE_MAX) == 0) {
			check(len <= plen);
			check(p != NULL);
		}
		(void)imsg_read_end(&r);
		break;
	default:
		while (imsg_read_u32(&r, &u32) == 0)
			;
		check(imsg_read_end(&r) == -1);
		break;
	}
}

/* Send the message back through the echo channel; it must not change. */
static void
echo_check(struct echo *e, struct imsg *imsg)
{
	struct imsg got;
	unsigned char *p = NULL;
	size_t len = imsg_get_len(imsg);
	ssize_t n = 0;
	int fd = -1, i;

	if (len > 0) {
		check((p = malloc(len)) != NULL);
		check(imsg_get_data(imsg, p, len) == 0);
	}
	if (imsg->fd >= 0)
		check((fd = fcntl(imsg->fd, F_DUPFD_CLOEXEC, 0)) >= 0);
	check(imsgbuf_set_maxsize(&e->tx, IMSG_MAXSIZE_MAX) == 0);
	check(imsg_compose(&e->tx, imsg_get_type(imsg), imsg_get_id(imsg),
	    imsg_get_pid(imsg), fd, p, len) == 1);
	check(imsgbuf_flush(&e->tx) == 0);
	for (i = 0; i < 1000 && n == 0; i++) {
		check(imsgbuf_read(&e->rx) == 1);
		n = imsg_get(&e->rx, &got);
	}
	check(n == (ssize_t)(len + IMSG_HEADER_SIZE));
	check(imsg_get_type(&got) == imsg_get_type(imsg));
	check(imsg_get_id(&got) == imsg_get_id(imsg));
	check(imsg_get_pid(&got) == imsg_get_pid(imsg));
	check(imsg_get_len(&got) == len);
	check(len == 0 || memcmp(got.data, p, len) == 0);
	check((got.fd >= 0) == (fd >= 0));
	imsg_free(&got);
	if (p != NULL) {
		explicit_bzero(p, len);
		free(p);
	}
}

static int
process(struct imsgbuf *rx, struct echo *e)
{
	struct imsg imsg;
	unsigned char tmp[1];
	ssize_t n;
	size_t len;
	int fd;

	while ((n = imsg_get(rx, &imsg)) > 0) {
		len = imsg_get_len(&imsg);
		check((size_t)n == len + IMSG_HEADER_SIZE);
		check(n <= (ssize_t)rx->maxsize);
		check(imsg_get_data(&imsg, tmp, len + 1) == -1);
		check(((imsg.hdr.len & IMSG_FDBIT) != 0) == (imsg.fd >= 0));
		typed_reads(&imsg);
		echo_check(e, &imsg);
		/* Both ways of disposing of a descriptor. */
		if (imsg_get_type(&imsg) & 1) {
			if ((fd = imsg_get_fd(&imsg)) >= 0)
				close(fd);
			check(imsg_get_fd(&imsg) == -1);
		}
		imsg_free(&imsg);
	}
	return n == 0 ? 0 : -1;
}

/* Write one chunk, with a descriptor if asked; 0 if the socket is full. */
static ssize_t
send_chunk(int s, const uint8_t *p, size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct iovec iov;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	n = sendmsg(s, &msg, MSG_NOSIGNAL);
	if (n == -1) {
		check(errno == EAGAIN || errno == EWOULDBLOCK);
		return 0;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf rx;
	struct echo e;
	size_t off, chunk, nchunk = 0;
	uint8_t opt, fdpat;
	int s[2], devnull = -1, r = 1, spins = 0;
	ssize_t n;

	if (size < 2)
		return 0;
	opt = data[0];
	fdpat = data[1];
	data += 2;
	size -= 2;

	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, s) == 0);
	check(s[0] < FD_LEAK_LIMIT && s[1] < FD_LEAK_LIMIT);
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, e.s) == 0);
	check(imsgbuf_init(&rx, s[1]) == 0);
	check(imsgbuf_init(&e.tx, e.s[0]) == 0);
	check(imsgbuf_init(&e.rx, e.s[1]) == 0);
	imsgbuf_allow_fdpass(&e.rx);
	check(imsgbuf_set_maxsize(&e.rx, IMSG_MAXSIZE_MAX) == 0);
	if (opt & 1)
		imsgbuf_allow_fdpass(&rx);
	if (opt & 4)
		check(imsgbuf_set_maxsize(&rx, 16u + 4u * fdpat) == 0);
	else if (opt & 2)
		check(imsgbuf_set_maxsize(&rx, IMSG_MAXSIZE_MAX) == 0);
	if (fdpat != 0)
		check((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);

	/* Chunk sizes from 1 byte up to the whole input at once. */
	chunk = (opt >> 4) == 15 ? size : (size_t)1 << (opt >> 4);
	for (off = 0; off < size && r == 1; ) {
		n = send_chunk(s[0], data + off,
		    chunk < size - off ? chunk : size - off,
		    nchunk < 8 && ((fdpat >> nchunk) & 1) ? devnull : -1);
		if (n > 0) {
			off += (size_t)n;
			nchunk++;
			spins = 0;
		} else
			check(++spins < 1000);
		r = imsgbuf_read(&rx);
		if (r == 1 && process(&rx, &e) == -1)
			r = -1;
		if (r == -1)
			check(errno == EBADMSG);
	}
	check(shutdown(s[0], SHUT_WR) == 0);
	while (r == 1) {
		check(++spins < 100000);
		r = imsgbuf_read(&rx);
		if (r != -1 && process(&rx, &e) == -1)
			r = -1;
		if (r == -1)
			check(errno == EBADMSG);
	}

	imsgbuf_clear(&rx);
	imsgbuf_clear(&e.tx);
	imsgbuf_clear(&e.rx);
	close(s[0]);
	close(s[1]);
	close(e.s[0]);
	close(e.s[1]);
	if (devnull >= 0)
		close(devnull);
	return 0;
}
