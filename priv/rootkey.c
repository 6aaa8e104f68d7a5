/*
 * The root key file: secrecy checks, then a strict parse (rootkey.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"

/* The file's bytes: the digits and an optional newline. */
#define FILE_MAX	(ROOTKEY_HEXLEN + 1)

/* Refuse what anyone but the owner could read or change. */
static int
check_secrecy(const char *path, int fd)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		log_warn("root key %s: fstat", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("root key %s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_warnx("root key %s: owned by uid %lu, not by the reading "
		    "user (uid %lu)", path, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_warnx("root key %s: mode %04o gives group or others "
		    "access; it must be 0400 or 0600", path,
		    (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_size != ROOTKEY_HEXLEN && st.st_size != FILE_MAX) {
		log_warnx("root key %s: %lld bytes; expected %d hexadecimal "
		    "digits and at most one newline", path,
		    (long long)st.st_size, ROOTKEY_HEXLEN);
		return -1;
	}
	return 0;
}

/* Read the whole file into buf (bufsz), insisting that it ends there. */
static ssize_t
read_all(const char *path, int fd, char *buf, size_t bufsz)
{
	size_t	 off = 0;
	ssize_t	 n;

	for (;;) {
		n = read(fd, buf + off, bufsz - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("root key %s: read", path);
			return -1;
		}
		if (n == 0)
			return (ssize_t)off;
		off += (size_t)n;
		if (off == bufsz) {
			log_warnx("root key %s: longer than a key", path);
			return -1;
		}
	}
}

/* 64 hex digits, then nothing or "\n"; sodium_hex2bin runs in constant time. */
static int
parse(const char *path, const char *buf, size_t len, uint8_t *out)
{
	size_t		 binlen = 0;
	const char	*end = NULL;

	if (len == FILE_MAX && buf[ROOTKEY_HEXLEN] == '\n')
		len--;
	if (len != ROOTKEY_HEXLEN ||
	    sodium_hex2bin(out, AEAD_KEYLEN, buf, len, NULL, &binlen,
	    &end) != 0 || binlen != AEAD_KEYLEN || end != buf + len) {
		log_warnx("root key %s: not %d hexadecimal digits and an "
		    "optional newline", path, ROOTKEY_HEXLEN);
		return -1;
	}
	return 0;
}

int
rootkey_read_file(const char *path, uint8_t out[AEAD_KEYLEN])
{
	char	*buf = NULL;
	ssize_t	 len;
	int	 fd, rv = -1;

	sodium_memzero(out, AEAD_KEYLEN);
	if (secmem_init() == -1) {
		log_warnx("root key %s: libsodium failed to start", path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		log_warn("root key %s: open", path);
		return -1;
	}
	if (check_secrecy(path, fd) == -1)
		goto done;
	/* One byte more than a key file so that read_all sees any excess. */
	if ((buf = secmem_alloc(FILE_MAX + 1)) == NULL) {
		log_warn("root key %s: key memory", path);
		goto done;
	}
	if ((len = read_all(path, fd, buf, FILE_MAX + 1)) != -1)
		rv = parse(path, buf, (size_t)len, out);
 done:
	secmem_free(buf, FILE_MAX + 1);
	close(fd);
	if (rv == -1)
		sodium_memzero(out, AEAD_KEYLEN);
	return rv;
}

int
rootkey_write_file(const char *path, const uint8_t key[AEAD_KEYLEN])
{
	char	*hex;
	size_t	 len;
	int	 fd, rv = -1;

	if (secmem_init() == -1 ||
	    (hex = secmem_alloc(FILE_MAX + 1)) == NULL) {
		log_warnx("root key %s: no key memory", path);
		return -1;
	}
	sodium_bin2hex(hex, FILE_MAX + 1, key, AEAD_KEYLEN);
	hex[ROOTKEY_HEXLEN] = '\n';
	len = FILE_MAX;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0400)) == -1)
		log_warn("root key %s: create", path);
	else {
		if (write(fd, hex, len) != (ssize_t)len)
			log_warn("root key %s: write", path);
		else if (fsync(fd) == -1)
			log_warn("root key %s: fsync", path);
		else
			rv = 0;
		if (close(fd) == -1 && rv == 0) {
			log_warn("root key %s: close", path);
			rv = -1;
		}
		if (rv == -1)
			(void)unlink(path);
	}
	secmem_free(hex, FILE_MAX + 1);
	return rv;
}
