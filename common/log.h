/*
 * Logging in the OpenBSD shape.  Daemons log one JSON object per line on
 * stderr (ts, level, proc, msg, then key/value fields) for journald or Loki;
 * with -d (log_init(1, ...)) the same events print as readable text.
 *
 * Nothing here can print a secret by accident: every string is escaped,
 * values of fields whose key names a secret are redacted, and log_redact()
 * turns a secret into a description of its size for messages that must
 * mention one.
 */
#ifndef DROMOS_LOG_H
#define DROMOS_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#define LOG_FMT(a, b)	__attribute__((__format__(__printf__, a, b)))
#define LOG_DEAD	__attribute__((__noreturn__))

enum log_level {
	LOGL_FATAL = 0,
	LOGL_WARN,
	LOGL_INFO,
	LOGL_DEBUG,
};

void	 log_init(int debug, int verbose);
void	 log_procinit(const char *procname);
void	 log_setverbose(int);
int	 log_getverbose(void);
/* Redirect output (default stderr); tests use a pipe or a file. */
void	 log_setfd(int fd);

void	 log_warn(const char *, ...) LOG_FMT(1, 2);
void	 log_warnx(const char *, ...) LOG_FMT(1, 2);
void	 log_info(const char *, ...) LOG_FMT(1, 2);
void	 log_debug(const char *, ...) LOG_FMT(1, 2);
void	 vlog(enum log_level, int with_errno, const char *, va_list)
	    LOG_FMT(3, 0);
void	 fatal(const char *, ...) LOG_FMT(1, 2) LOG_DEAD;
void	 fatalx(const char *, ...) LOG_FMT(1, 2) LOG_DEAD;

/*
 * Warnings a peer can provoke at will (refused handshakes, say), from any
 * thread: a token bucket of `burst' warnings, refilled by one every
 * `every_ms'.  Past it they are counted, and the next warning written
 * says how many were left out.
 *	static struct log_throttle t = LOG_THROTTLE_INITIALIZER(10000, 1);
 */
struct log_throttle {
	pthread_mutex_t		 mtx;
	unsigned int		 every_ms;
	unsigned int		 burst;
	unsigned int		 tokens;
	unsigned int		 quiet;		/* left out since the last */
	unsigned long long	 since_ms;	/* of the refill; 0: never */
};
#define LOG_THROTTLE_INITIALIZER(every_ms, burst) \
	{ PTHREAD_MUTEX_INITIALIZER, (every_ms), (burst), 0, 0, 0 }
void	 log_warnx_throttled(struct log_throttle *, const char *, ...)
	    LOG_FMT(2, 3);

/*
 * A structured event: msg, then NULL-terminated pairs of key and string
 * value.  A value whose key looks like a secret (password, secret, token,
 * key, authorization, cookie, credential) is replaced by "[redacted]".
 */
void	 log_kv(enum log_level, const char *msg, ...)
	    __attribute__((__sentinel__));

/*
 * Lines kept by one thread and written together, several in one write(2),
 * for a busy event loop's access log.  A batch is never shared between
 * threads; the owner flushes it before it sleeps and before it exits, so
 * no line waits long and none is lost.  LOG_BATCH_MAX is PIPE_BUF: a
 * batch written to a pipe never interleaves with another process's lines.
 */
#define LOG_BATCH_MAX	4096
struct log_batch {
	char	 buf[LOG_BATCH_MAX];
	size_t	 len;
};

/* As log_kv(), into the batch (flushed first when the line does not fit). */
void	 log_kv_batch(struct log_batch *, enum log_level, const char *msg,
	    ...) __attribute__((__sentinel__));
void	 log_batch_flush(struct log_batch *);

/* "[redacted N bytes]" into buf; returns buf. */
const char *log_redact(char *buf, size_t bufsz, size_t secretlen);

/* Nonzero when a field name must never carry a value into a log. */
int	 log_key_is_secret(const char *key);

/*
 * Escape s as the inside of a JSON string into buf (always terminated,
 * truncated with "..." if it does not fit).  Returns buf.
 */
char	*log_json_escape(char *buf, size_t bufsz, const char *s);

#endif /* DROMOS_LOG_H */
