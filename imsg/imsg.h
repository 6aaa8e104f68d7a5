/*
 * imsg: framed messages between Dromos processes over an AF_UNIX stream
 * socket, in the shape of OpenBSD's imsg API (our own implementation).
 *
 * Wire format: every message starts with a 16-byte struct imsg_hdr in host
 * byte order (both ends run on the same machine), followed by the payload.
 * hdr.len is the total length including the header; its top bit
 * (IMSG_FDBIT) says that a file descriptor travels with the message.
 *
 * The typed helpers (imsg_add_u32 ... imsg_read_end) lay out payload
 * fields in network byte order (big-endian); strings and byte strings are
 * a u32 length followed by that many bytes, with no terminating NUL.
 *
 * Nothing here keeps global state, logs, or is thread-safe: one imsgbuf
 * belongs to one thread.  Every error is returned (-1 and errno).
 */
#ifndef DROMOS_IMSG_H
#define DROMOS_IMSG_H

#include <sys/types.h>
#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define IMSG_HEADER_SIZE	16u		/* sizeof(struct imsg_hdr) */
#define IMSG_MAXSIZE_DEFAULT	16384u		/* header included */
#define IMSG_MAXSIZE_MAX	65536u		/* ceiling for set_maxsize */
#define IMSG_FDBIT		0x80000000u	/* in hdr.len: an fd is attached */
#define IMSG_WQUEUE_MAX		(1024u * 1024u)	/* bytes queued per imsgbuf */
#define IMSG_MAXFDS		16u		/* received fds not yet claimed */

struct imsg_hdr {
	uint32_t	type;
	uint32_t	len;	/* total length incl. header, | IMSG_FDBIT */
	uint32_t	peerid;
	uint32_t	pid;
};

/* A message under construction or queued for writing (opaque). */
struct ibuf;

/* A received fd and the stream bytes of the recvmsg that brought it. */
struct imsg_rfd {
	int		fd;
	uint64_t	start;	/* stream offset of the first byte read */
	uint64_t	end;	/* one past the last byte read */
};

/*
 * One end of a channel.  The fields are private to the library; the struct
 * is public only so that callers can embed it.
 */
struct imsgbuf {
	int		 fd;
	unsigned int	 flags;
	size_t		 maxsize;
	/* read side */
	unsigned char	*rbuf;		/* IMSG_MAXSIZE_MAX bytes */
	size_t		 rpos;		/* start of the first unconsumed byte */
	size_t		 rlen;		/* bytes held in rbuf */
	uint64_t	 roff;		/* stream offset of rbuf[0] */
	struct imsg_rfd	 rfds[IMSG_MAXFDS];
	size_t		 nrfds;
	int		 rerr;		/* sticky errno after a protocol error */
	int		 reof;
	/* write side */
	struct ibuf	*wq_head;
	struct ibuf	*wq_tail;
	size_t		 wq_bytes;	/* bytes of the messages queued */
	uint32_t	 wq_count;
};

/* A received message.  Use the imsg_get_* accessors, not the fields. */
struct imsg {
	struct imsg_hdr	 hdr;
	unsigned char	*data;		/* private copy of the payload, or NULL */
	size_t		 datalen;
	int		 fd;		/* owned by the imsg until imsg_get_fd */
};

/* A cursor over a received payload for typed, bounds-checked reads. */
struct imsg_reader {
	const unsigned char	*p;
	size_t			 len;
	size_t			 off;
	int			 failed;
};

/* Channel set-up and I/O. */
int		 imsgbuf_init(struct imsgbuf *, int);
void		 imsgbuf_clear(struct imsgbuf *);
void		 imsgbuf_allow_fdpass(struct imsgbuf *);
int		 imsgbuf_set_maxsize(struct imsgbuf *, size_t);
int		 imsgbuf_read(struct imsgbuf *);
int		 imsgbuf_write(struct imsgbuf *);
int		 imsgbuf_flush(struct imsgbuf *);
uint32_t	 imsgbuf_queuelen(const struct imsgbuf *);

/* Receiving. */
ssize_t		 imsg_get(struct imsgbuf *, struct imsg *);
uint32_t	 imsg_get_type(const struct imsg *);
uint32_t	 imsg_get_id(const struct imsg *);
pid_t		 imsg_get_pid(const struct imsg *);
size_t		 imsg_get_len(const struct imsg *);
int		 imsg_get_data(const struct imsg *, void *, size_t);
int		 imsg_get_fd(struct imsg *);
void		 imsg_free(struct imsg *);

/* Sending. */
int		 imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
		    const void *, size_t);
int		 imsg_composev(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
		    const struct iovec *, int);
struct ibuf	*imsg_create(struct imsgbuf *, uint32_t, uint32_t, pid_t,
		    size_t);
int		 imsg_add(struct ibuf *, const void *, size_t);
int		 imsg_close(struct imsgbuf *, struct ibuf *);
void		 imsg_abort(struct ibuf *);

/* Typed payload writers: on failure the message is freed, as imsg_add. */
int		 imsg_add_u32(struct ibuf *, uint32_t);
int		 imsg_add_u64(struct ibuf *, uint64_t);
int		 imsg_add_lbytes(struct ibuf *, const void *, size_t);
int		 imsg_add_string(struct ibuf *, const char *);

/* Typed payload readers: -1 and EBADMSG on short or malformed data. */
void		 imsg_reader_init(struct imsg_reader *, const struct imsg *);
int		 imsg_read_u32(struct imsg_reader *, uint32_t *);
int		 imsg_read_u64(struct imsg_reader *, uint64_t *);
int		 imsg_read_bytes(struct imsg_reader *, void *, size_t);
int		 imsg_read_lbytes(struct imsg_reader *, const void **, size_t *,
		    size_t);
int		 imsg_read_string(struct imsg_reader *, char *, size_t);
int		 imsg_read_end(struct imsg_reader *);

#endif /* DROMOS_IMSG_H */
