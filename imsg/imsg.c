/*
 * imsg.c: the channel (imsgbuf), framing, fd passing and the write queue.
 *
 * The peer is not trusted.  Every length in a header is checked before it
 * is used, a violation of the protocol poisons the read side for good (the
 * stream cannot be resynchronised), and every buffer that held message
 * bytes is zeroised before it is freed or reused, because payloads carry
 * secrets.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"

#define IMSGF_FDPASS	0x01u	/* the peer may send us descriptors */
#define IMSG_IOV_BATCH	64	/* messages gathered into one sendmsg */

/* A message being built, then queued until the kernel has taken it all. */
struct ibuf {
	struct ibuf	*next;
	unsigned char	*buf;
	size_t		 size;	/* bytes allocated */
	size_t		 wpos;	/* bytes filled */
	size_t		 rpos;	/* bytes already handed to the kernel */
	size_t		 max;	/* wpos never grows past this */
	int		 fd;	/* sent with the first byte, then closed */
};

/* close(2) without disturbing the errno a failing caller is returning. */
static void
close_keep_errno(int fd)
{
	int saved = errno;

	(void)close(fd);
	errno = saved;
}

static void
ibuf_free(struct ibuf *m)
{
	if (m == NULL)
		return;
	if (m->buf != NULL) {
		explicit_bzero(m->buf, m->size);
		free(m->buf);
	}
	if (m->fd >= 0)
		close_keep_errno(m->fd);
	free(m);
}

static struct ibuf *
ibuf_new(size_t initial, size_t max)
{
	struct ibuf *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->buf = malloc(initial)) == NULL) {
		free(m);
		return NULL;
	}
	m->size = initial;
	m->max = max;
	m->fd = -1;
	return m;
}

/*
 * Make room for n more bytes.  realloc() is not used because it may leave
 * a copy of the payload in freed memory; we copy and zeroise ourselves.
 */
static int
ibuf_reserve(struct ibuf *m, size_t n)
{
	unsigned char *nbuf;
	size_t nsize;

	if (n > m->max - m->wpos) {
		errno = ERANGE;
		return -1;
	}
	if (n <= m->size - m->wpos)
		return 0;
	nsize = m->size > m->max / 2 ? m->max : m->size * 2;
	if (nsize < m->wpos + n)
		nsize = m->wpos + n;
	if ((nbuf = malloc(nsize)) == NULL)
		return -1;
	memcpy(nbuf, m->buf, m->wpos);
	explicit_bzero(m->buf, m->size);
	free(m->buf);
	m->buf = nbuf;
	m->size = nsize;
	return 0;
}

static int
imsgbuf_live(const struct imsgbuf *ibuf)
{
	if (ibuf == NULL || ibuf->rbuf == NULL) {
		errno = EBADF;
		return 0;
	}
	return 1;
}

int
imsgbuf_init(struct imsgbuf *ibuf, int fd)
{
	if (ibuf == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(ibuf, 0, sizeof(*ibuf));
	ibuf->fd = -1;
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	/*
	 * Sized for the largest message we can ever be told to accept, so
	 * that imsgbuf_set_maxsize never has to move buffered bytes.
	 */
	if ((ibuf->rbuf = malloc(IMSG_MAXSIZE_MAX)) == NULL)
		return -1;
	ibuf->fd = fd;
	ibuf->maxsize = IMSG_MAXSIZE_DEFAULT;
	return 0;
}

static void
rfds_close(struct imsgbuf *ibuf)
{
	size_t i;

	for (i = 0; i < ibuf->nrfds; i++)
		close_keep_errno(ibuf->rfds[i].fd);
	ibuf->nrfds = 0;
}

void
imsgbuf_clear(struct imsgbuf *ibuf)
{
	struct ibuf *m, *next;

	if (ibuf == NULL)
		return;
	for (m = ibuf->wq_head; m != NULL; m = next) {
		next = m->next;
		ibuf_free(m);
	}
	ibuf->wq_head = ibuf->wq_tail = NULL;
	ibuf->wq_bytes = 0;
	ibuf->wq_count = 0;
	rfds_close(ibuf);
	if (ibuf->rbuf != NULL) {
		explicit_bzero(ibuf->rbuf, IMSG_MAXSIZE_MAX);
		free(ibuf->rbuf);
		ibuf->rbuf = NULL;
	}
	ibuf->rpos = ibuf->rlen = 0;
	/* The socket belongs to the caller; we only forget it. */
	ibuf->fd = -1;
}

void
imsgbuf_allow_fdpass(struct imsgbuf *ibuf)
{
	if (ibuf != NULL)
		ibuf->flags |= IMSGF_FDPASS;
}

int
imsgbuf_set_maxsize(struct imsgbuf *ibuf, size_t max)
{
	if (!imsgbuf_live(ibuf))
		return -1;
	if (max < IMSG_HEADER_SIZE || max > IMSG_MAXSIZE_MAX) {
		errno = ERANGE;
		return -1;
	}
	ibuf->maxsize = max;
	return 0;
}

uint32_t
imsgbuf_queuelen(const struct imsgbuf *ibuf)
{
	return ibuf == NULL ? 0 : ibuf->wq_count;
}

/*
 * A protocol violation: framing is lost, so the read side stays failed.
 * Unread bytes are wiped and descriptors nobody will claim are closed now
 * rather than at imsgbuf_clear.
 */
static int
read_fail(struct imsgbuf *ibuf)
{
	rfds_close(ibuf);
	explicit_bzero(ibuf->rbuf, ibuf->rlen);
	ibuf->roff += ibuf->rlen;
	ibuf->rpos = ibuf->rlen = 0;
	ibuf->rerr = EBADMSG;
	errno = EBADMSG;
	return -1;
}

/* Is this header acceptable on this channel, as far as it alone can say? */
static int
hdr_ok(const struct imsgbuf *ibuf, const struct imsg_hdr *hdr)
{
	uint32_t len = hdr->len & ~IMSG_FDBIT;

	if (len < IMSG_HEADER_SIZE || len > ibuf->maxsize)
		return 0;
	if ((hdr->len & IMSG_FDBIT) && !(ibuf->flags & IMSGF_FDPASS))
		return 0;
	return 1;
}

/* Check the header of the first unconsumed message, if it is all here. */
static int
front_check(struct imsgbuf *ibuf)
{
	struct imsg_hdr hdr;

	if (ibuf->rlen - ibuf->rpos < IMSG_HEADER_SIZE)
		return 0;
	memcpy(&hdr, ibuf->rbuf + ibuf->rpos, sizeof(hdr));
	if (!hdr_ok(ibuf, &hdr))
		return read_fail(ibuf);
	return 0;
}

/* Move unconsumed bytes to the front, wiping where they were. */
static void
rbuf_compact(struct imsgbuf *ibuf)
{
	size_t left;

	if (ibuf->rpos == 0)
		return;
	left = ibuf->rlen - ibuf->rpos;
	memmove(ibuf->rbuf, ibuf->rbuf + ibuf->rpos, left);
	explicit_bzero(ibuf->rbuf + left, ibuf->rlen - left);
	ibuf->roff += ibuf->rpos;
	ibuf->rlen = left;
	ibuf->rpos = 0;
}

/*
 * Room for one descriptor.  Because of alignment padding the kernel can
 * fit a second one in it; we refuse that below, and anything beyond that
 * is dropped by the kernel itself (MSG_CTRUNC), never installed here.
 */
#define RECV_CMSG_SPACE	CMSG_SPACE(sizeof(int))
#define RECV_MAXFDS	(RECV_CMSG_SPACE / sizeof(int))

int
imsgbuf_read(struct imsgbuf *ibuf)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[RECV_CMSG_SPACE];
	} cbuf;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cmsg;
	int fds[RECV_MAXFDS];
	size_t nfds = 0, i, nread;
	ssize_t n;
	int bad;

	if (!imsgbuf_live(ibuf))
		return -1;
	if (ibuf->rerr) {
		errno = ibuf->rerr;
		return -1;
	}
	rbuf_compact(ibuf);
	if (front_check(ibuf) == -1)
		return -1;
	/*
	 * The message in front is valid, so no larger than the buffer: a full
	 * buffer holds at least one complete message, and the caller must
	 * drain it with imsg_get before we can read more.
	 */
	if (ibuf->rlen == IMSG_MAXSIZE_MAX)
		return 1;

	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = ibuf->rbuf + ibuf->rlen;
	iov.iov_len = IMSG_MAXSIZE_MAX - ibuf->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);

	do {
		n = recvmsg(ibuf->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		return -1;
	}
	nread = (size_t)n;

	/* Take every descriptor that arrived before judging any of them. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t cnt;
		unsigned char *p;

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0))
			continue;
		cnt = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = CMSG_DATA(cmsg);
		for (i = 0; i < cnt && nfds < RECV_MAXFDS; i++) {
			memcpy(&fds[nfds], p + i * sizeof(int), sizeof(int));
			nfds++;
		}
	}

	bad = (msg.msg_flags & MSG_CTRUNC) != 0 || nfds > 1;
	if (nfds > 0) {
		if (!(ibuf->flags & IMSGF_FDPASS) ||
		    ibuf->nrfds == IMSG_MAXFDS || nread == 0)
			bad = 1;
	}
	if (bad) {
		for (i = 0; i < nfds; i++)
			close_keep_errno(fds[i]);
		return read_fail(ibuf);
	}
	if (nfds == 1) {
		/*
		 * The kernel hands a descriptor over with the first byte of
		 * the sendmsg that carried it, and a well-formed sender starts
		 * that sendmsg at the message the descriptor belongs to.  So
		 * that message begins inside the bytes just read; remember
		 * them so imsg_get can check the claim.
		 */
		struct imsg_rfd *r = &ibuf->rfds[ibuf->nrfds++];

		r->fd = fds[0];
		r->start = ibuf->roff + ibuf->rlen;
		r->end = r->start + nread;
	}
	if (nread == 0) {
		ibuf->reof = 1;
		return 0;
	}
	ibuf->rlen += nread;

	/* Refuse a bad header as soon as it is seen, not when it completes. */
	if (front_check(ibuf) == -1)
		return -1;
	return 1;
}

static void
imsg_empty(struct imsg *imsg)
{
	memset(imsg, 0, sizeof(*imsg));
	imsg->fd = -1;
}

ssize_t
imsg_get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct imsg_hdr hdr;
	unsigned char *data = NULL;
	size_t avail, len, datalen;
	uint64_t off;
	int fd = -1;

	if (imsg == NULL) {
		errno = EINVAL;
		return -1;
	}
	imsg_empty(imsg);
	if (!imsgbuf_live(ibuf))
		return -1;
	if (ibuf->rerr) {
		errno = ibuf->rerr;
		return -1;
	}

	avail = ibuf->rlen - ibuf->rpos;
	if (avail < IMSG_HEADER_SIZE) {
		/* Bytes of a message the peer never finished. */
		if (ibuf->reof && avail > 0)
			return read_fail(ibuf);
		return 0;
	}
	memcpy(&hdr, ibuf->rbuf + ibuf->rpos, sizeof(hdr));
	/* Checked again: the maximum may have been lowered since. */
	if (!hdr_ok(ibuf, &hdr))
		return read_fail(ibuf);
	len = hdr.len & ~IMSG_FDBIT;
	if (avail < len) {
		if (ibuf->reof)
			return read_fail(ibuf);
		return 0;
	}

	/*
	 * Match descriptors to messages: the oldest pending descriptor must
	 * belong to a message that begins inside the bytes read with it.
	 * Once we are past those bytes it can no longer be claimed.
	 */
	off = ibuf->roff + ibuf->rpos;
	if (ibuf->nrfds > 0 && ibuf->rfds[0].end <= off)
		return read_fail(ibuf);
	if ((hdr.len & IMSG_FDBIT) &&
	    (ibuf->nrfds == 0 || ibuf->rfds[0].start > off))
		return read_fail(ibuf);

	datalen = len - IMSG_HEADER_SIZE;
	/* Allocate before consuming anything, so ENOMEM can be retried. */
	if (datalen > 0 && (data = malloc(datalen)) == NULL)
		return -1;
	if (hdr.len & IMSG_FDBIT) {
		fd = ibuf->rfds[0].fd;
		ibuf->nrfds--;
		memmove(&ibuf->rfds[0], &ibuf->rfds[1],
		    ibuf->nrfds * sizeof(ibuf->rfds[0]));
	}
	if (datalen > 0)
		memcpy(data, ibuf->rbuf + ibuf->rpos + IMSG_HEADER_SIZE,
		    datalen);
	explicit_bzero(ibuf->rbuf + ibuf->rpos, len);
	ibuf->rpos += len;

	imsg->hdr = hdr;
	imsg->data = data;
	imsg->datalen = datalen;
	imsg->fd = fd;
	return (ssize_t)len;
}

uint32_t
imsg_get_type(const struct imsg *imsg)
{
	return imsg->hdr.type;
}

uint32_t
imsg_get_id(const struct imsg *imsg)
{
	return imsg->hdr.peerid;
}

pid_t
imsg_get_pid(const struct imsg *imsg)
{
	return (pid_t)imsg->hdr.pid;
}

size_t
imsg_get_len(const struct imsg *imsg)
{
	return imsg->datalen;
}

int
imsg_get_data(const struct imsg *imsg, void *buf, size_t len)
{
	if (imsg->datalen != len) {
		errno = EBADMSG;
		return -1;
	}
	if (len > 0 && buf == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (len > 0)
		memcpy(buf, imsg->data, len);
	return 0;
}

int
imsg_get_fd(struct imsg *imsg)
{
	int fd = imsg->fd;

	imsg->fd = -1;
	return fd;
}

void
imsg_free(struct imsg *imsg)
{
	if (imsg == NULL)
		return;
	if (imsg->data != NULL) {
		explicit_bzero(imsg->data, imsg->datalen);
		free(imsg->data);
	}
	if (imsg->fd >= 0)
		close_keep_errno(imsg->fd);
	imsg_empty(imsg);
}

struct ibuf *
imsg_create(struct imsgbuf *ibuf, uint32_t type, uint32_t id, pid_t pid,
    size_t datalen)
{
	struct imsg_hdr hdr;
	struct ibuf *m;

	if (!imsgbuf_live(ibuf))
		return NULL;
	if (datalen > ibuf->maxsize - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return NULL;
	}
	if ((m = ibuf_new(IMSG_HEADER_SIZE + datalen, ibuf->maxsize)) == NULL)
		return NULL;
	/* len is filled in by imsg_close, when the size is known. */
	hdr.type = type;
	hdr.len = 0;
	hdr.peerid = id;
	hdr.pid = (uint32_t)pid;
	memcpy(m->buf, &hdr, sizeof(hdr));
	m->wpos = sizeof(hdr);
	return m;
}

/* Append bytes; on failure the message is freed, as imsg_add promises. */
static int
ibuf_append(struct ibuf *m, const void *data, size_t datalen)
{
	if (datalen == 0)
		return 0;
	if (data == NULL) {
		ibuf_free(m);
		errno = EINVAL;
		return -1;
	}
	if (ibuf_reserve(m, datalen) == -1) {
		ibuf_free(m);
		return -1;
	}
	memcpy(m->buf + m->wpos, data, datalen);
	m->wpos += datalen;
	return 0;
}

int
imsg_add(struct ibuf *m, const void *data, size_t datalen)
{
	if (m == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (ibuf_append(m, data, datalen) == -1)
		return -1;
	/* datalen <= IMSG_MAXSIZE_MAX now, so it fits an int. */
	return (int)datalen;
}

void
imsg_abort(struct ibuf *m)
{
	ibuf_free(m);
}

int
imsg_close(struct imsgbuf *ibuf, struct ibuf *m)
{
	uint32_t len;

	if (m == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!imsgbuf_live(ibuf)) {
		ibuf_free(m);
		return -1;
	}
	/* Built under a larger maximum than the one now in force. */
	if (m->wpos > ibuf->maxsize) {
		ibuf_free(m);
		errno = ERANGE;
		return -1;
	}
	if (m->wpos > IMSG_WQUEUE_MAX - ibuf->wq_bytes) {
		ibuf_free(m);
		errno = ENOBUFS;
		return -1;
	}
	len = (uint32_t)m->wpos;
	if (m->fd >= 0)
		len |= IMSG_FDBIT;
	memcpy(m->buf + offsetof(struct imsg_hdr, len), &len, sizeof(len));

	m->next = NULL;
	if (ibuf->wq_tail != NULL)
		ibuf->wq_tail->next = m;
	else
		ibuf->wq_head = m;
	ibuf->wq_tail = m;
	ibuf->wq_bytes += m->wpos;
	ibuf->wq_count++;
	return 0;
}

int
imsg_composev(struct imsgbuf *ibuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf *m;
	size_t datalen = 0;
	int i;

	if (!imsgbuf_live(ibuf))
		goto fail;
	if (iovcnt < 0 || (iovcnt > 0 && iov == NULL)) {
		errno = EINVAL;
		goto fail;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > ibuf->maxsize - IMSG_HEADER_SIZE - datalen) {
			errno = ERANGE;
			goto fail;
		}
		datalen += iov[i].iov_len;
	}
	/* Fail before allocating when the queue is already full. */
	if (IMSG_HEADER_SIZE + datalen > IMSG_WQUEUE_MAX - ibuf->wq_bytes) {
		errno = ENOBUFS;
		goto fail;
	}
	if ((m = imsg_create(ibuf, type, id, pid, datalen)) == NULL)
		goto fail;
	for (i = 0; i < iovcnt; i++)
		if (ibuf_append(m, iov[i].iov_base, iov[i].iov_len) == -1)
			goto fail;	/* m is freed */
	/* From here the message owns the descriptor, even on failure. */
	m->fd = fd >= 0 ? fd : -1;
	if (imsg_close(ibuf, m) == -1)
		return -1;
	return 1;

 fail:
	/* We promised to take the descriptor in every case. */
	if (fd >= 0)
		close_keep_errno(fd);
	return -1;
}

int
imsg_compose(struct imsgbuf *ibuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen)
{
	struct iovec iov;

	if (datalen > 0 && data == NULL) {
		if (fd >= 0)
			close_keep_errno(fd);
		errno = EINVAL;
		return -1;
	}
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = datalen;
	return imsg_composev(ibuf, type, id, pid, fd, &iov, datalen > 0);
}

/*
 * One sendmsg over the head of the queue.  A message carrying a descriptor
 * always starts its own sendmsg, so that the kernel delivers the
 * descriptor with that message's first byte (see imsgbuf_read).
 * Returns 1 when bytes went out, 0 when the socket is full, -1 on error.
 */
static int
wq_send(struct imsgbuf *ibuf)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov[IMSG_IOV_BATCH];
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct ibuf *m;
	ssize_t n;
	size_t sent, left;
	int niov = 0, fd = -1;

	for (m = ibuf->wq_head; m != NULL && niov < IMSG_IOV_BATCH;
	    m = m->next) {
		if (m->fd >= 0) {
			if (niov > 0)
				break;
			fd = m->fd;
		}
		iov[niov].iov_base = m->buf + m->rpos;
		iov[niov].iov_len = m->wpos - m->rpos;
		niov++;
	}

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
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

	/* MSG_NOSIGNAL: a vanished peer is an EPIPE to return, not a signal. */
	do {
		n = sendmsg(ibuf->fd, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		return -1;
	}

	/* The descriptor went with the first byte; our copy is done. */
	if (fd >= 0) {
		close_keep_errno(fd);
		ibuf->wq_head->fd = -1;
	}
	/* The kernel never takes more than we offered; the NULL test is belt. */
	for (sent = (size_t)n; sent > 0 && ibuf->wq_head != NULL; ) {
		m = ibuf->wq_head;
		left = m->wpos - m->rpos;
		if (sent < left) {
			m->rpos += sent;
			break;
		}
		sent -= left;
		ibuf->wq_head = m->next;
		if (ibuf->wq_head == NULL)
			ibuf->wq_tail = NULL;
		ibuf->wq_bytes -= m->wpos;
		ibuf->wq_count--;
		ibuf_free(m);
	}
	return 1;
}

int
imsgbuf_write(struct imsgbuf *ibuf)
{
	int r;

	if (!imsgbuf_live(ibuf))
		return -1;
	while (ibuf->wq_head != NULL) {
		if ((r = wq_send(ibuf)) == -1)
			return -1;
		if (r == 0)
			break;
	}
	return 0;
}

int
imsgbuf_flush(struct imsgbuf *ibuf)
{
	struct pollfd pfd;
	int r;

	if (!imsgbuf_live(ibuf))
		return -1;
	while (ibuf->wq_head != NULL) {
		if ((r = wq_send(ibuf)) == -1)
			return -1;
		if (r == 1)
			continue;
		/* Nonblocking socket and it is full: wait rather than spin. */
		pfd.fd = ibuf->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return -1;
		if (pfd.revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
	}
	return 0;
}
