/*
 * Small files a daemon reads whole while it still may: TLS certificates
 * and private keys, read as root before a process is sandboxed.
 *
 * A secret file (a private key) is opened without following a symbolic
 * link and must be a regular file owned by root or by the effective user
 * that neither group nor others may access, after OpenBSD's
 * check_file_secrecy().  Any file must be regular, not empty, no larger
 * than asked, and hold no NUL byte (its text is handed on as a C string).
 */
#ifndef DROMOS_COMMON_SECFILE_H
#define DROMOS_COMMON_SECFILE_H

#include <sys/stat.h>

#include <stddef.h>

#define SECFILE_SECRET		0x1
/*
 * With SECFILE_SECRET: the group may read it too (a server key of
 * root:ssl-cert, mode 0640, Debian's way); others still may not.
 */
#define SECFILE_GROUP_OK	0x2

/*
 * The secrecy check of an open descriptor: 0, or -1 with
 * "path: reason" in err.
 */
int	 secfile_check(int fd, const char *path, char *err, size_t errlen);

/*
 * Read path whole into *buf (NUL-terminated, *len bytes before the NUL).
 * 0, or -1 with "path: reason" in err and *buf NULL.  Free with
 * secfile_free(), which wipes.
 */
int	 secfile_read(const char *path, int flags, size_t max, char **buf,
	    size_t *len, char *err, size_t errlen);
void	 secfile_free(char *buf, size_t len);

/*
 * The same version of a file, by stat(2): device, inode, size and
 * modification time alike.  A file read again when it changes (a CRL)
 * is replaced by rename(2), which gives it a new inode or time.
 */
int	 secfile_same(const struct stat *, const struct stat *);

#endif /* DROMOS_COMMON_SECFILE_H */
