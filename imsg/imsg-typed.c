/*
 * imsg-typed.c: typed payload fields, written and read symmetrically.
 *
 * Integers are big-endian (network byte order) so that a payload's layout
 * is the same whatever the host, and readable in a hex dump.  Byte strings
 * and strings are a u32 length and that many bytes, never NUL-terminated
 * on the wire.
 *
 * The reader is fail-closed: the first short or malformed field marks it
 * failed, every later read fails too, and imsg_read_end reports the whole
 * sequence, so a handler can make its reads and check once.
 */
#include <sys/types.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imsg/imsg.h"

/* What an empty byte string points at: never NULL, never dereferenced. */
static const unsigned char imsg_empty_bytes[1];

static void
put_u32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

static uint32_t
get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

int
imsg_add_u32(struct ibuf *m, uint32_t v)
{
	unsigned char b[4];

	put_u32(b, v);
	return imsg_add(m, b, sizeof(b)) == -1 ? -1 : 0;
}

int
imsg_add_u64(struct ibuf *m, uint64_t v)
{
	unsigned char b[8];

	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b + 4, (uint32_t)v);
	return imsg_add(m, b, sizeof(b)) == -1 ? -1 : 0;
}

int
imsg_add_lbytes(struct ibuf *m, const void *data, size_t len)
{
	if (m == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (len > UINT32_MAX) {
		imsg_abort(m);
		errno = ERANGE;
		return -1;
	}
	if (len > 0 && data == NULL) {
		imsg_abort(m);
		errno = EINVAL;
		return -1;
	}
	if (imsg_add_u32(m, (uint32_t)len) == -1)
		return -1;
	return imsg_add(m, data, len) == -1 ? -1 : 0;
}

int
imsg_add_string(struct ibuf *m, const char *s)
{
	if (s == NULL) {
		imsg_abort(m);
		errno = EINVAL;
		return -1;
	}
	return imsg_add_lbytes(m, s, strlen(s));
}

void
imsg_reader_init(struct imsg_reader *r, const struct imsg *imsg)
{
	memset(r, 0, sizeof(*r));
	if (imsg == NULL) {
		r->failed = 1;
		return;
	}
	r->p = imsg->data;
	r->len = imsg->data != NULL ? imsg->datalen : 0;
}

static int
reader_fail(struct imsg_reader *r, int error)
{
	r->failed = 1;
	errno = error;
	return -1;
}

/*
 * Take n bytes from the payload.  A failed reader gives nothing more, so a
 * later field can never be read out of place after an earlier one failed.
 */
static int
take(struct imsg_reader *r, size_t n, const unsigned char **q)
{
	*q = NULL;
	if (r->failed)
		return reader_fail(r, EBADMSG);
	if (n > r->len - r->off)
		return reader_fail(r, EBADMSG);
	if (n == 0) {
		*q = imsg_empty_bytes;
		return 0;
	}
	*q = r->p + r->off;
	r->off += n;
	return 0;
}

int
imsg_read_u32(struct imsg_reader *r, uint32_t *v)
{
	const unsigned char *q;

	*v = 0;
	if (take(r, 4, &q) == -1)
		return -1;
	*v = get_u32(q);
	return 0;
}

int
imsg_read_u64(struct imsg_reader *r, uint64_t *v)
{
	const unsigned char *q;

	*v = 0;
	if (take(r, 8, &q) == -1)
		return -1;
	*v = (uint64_t)get_u32(q) << 32 | get_u32(q + 4);
	return 0;
}

int
imsg_read_bytes(struct imsg_reader *r, void *buf, size_t len)
{
	const unsigned char *q;

	if (len > 0 && buf == NULL)
		return reader_fail(r, EINVAL);
	if (take(r, len, &q) == -1) {
		if (len > 0)
			memset(buf, 0, len);
		return -1;
	}
	if (len > 0)
		memcpy(buf, q, len);
	return 0;
}

int
imsg_read_lbytes(struct imsg_reader *r, const void **data, size_t *len,
    size_t max)
{
	const unsigned char *q;
	uint32_t n;

	*data = NULL;
	*len = 0;
	if (imsg_read_u32(r, &n) == -1)
		return -1;
	if (n > max)
		return reader_fail(r, EBADMSG);
	if (take(r, n, &q) == -1)
		return -1;
	*data = q;
	*len = n;
	return 0;
}

int
imsg_read_string(struct imsg_reader *r, char *buf, size_t bufsz)
{
	const unsigned char *q;
	uint32_t n;

	if (buf == NULL || bufsz == 0)
		return reader_fail(r, EINVAL);
	buf[0] = '\0';
	if (imsg_read_u32(r, &n) == -1)
		return -1;
	/* Room for the terminating NUL we add. */
	if (n >= bufsz)
		return reader_fail(r, EBADMSG);
	if (take(r, n, &q) == -1)
		return -1;
	/* An embedded NUL would let two parties read two different strings. */
	if (memchr(q, '\0', n) != NULL)
		return reader_fail(r, EBADMSG);
	memcpy(buf, q, n);
	buf[n] = '\0';
	return 0;
}

int
imsg_read_end(struct imsg_reader *r)
{
	if (r->failed)
		return reader_fail(r, EBADMSG);
	if (r->off != r->len)
		return reader_fail(r, EBADMSG);
	return 0;
}
