/*
 * One log line per event, written with a single write(2) so lines from
 * several processes sharing a descriptor never interleave.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX	4096
#define LOG_MSG_MAX	2048

static int		 log_debug_mode;	/* -d: readable text */
static int		 log_verbose;
static int		 log_fd = STDERR_FILENO;
static const char	*log_procname = "dromos";

static const char *const level_names[] = {
	[LOGL_FATAL] = "fatal",
	[LOGL_WARN] = "warn",
	[LOGL_INFO] = "info",
	[LOGL_DEBUG] = "debug",
};

/* Field names whose values are never logged, whatever the caller passes. */
static const char *const secret_words[] = {
	"password", "passwd", "secret", "token", "key", "authorization",
	"cookie", "credential", "verifier", "plaintext",
};
/* Too common inside other words to match as a part ("status_code"). */
static const char *const secret_names[] = {
	"code", "state", "pin",
};

void
log_init(int debug, int verbose)
{
	log_debug_mode = debug;
	log_verbose = verbose;
	tzset();
}

void
log_procinit(const char *procname)
{
	if (procname != NULL)
		log_procname = procname;
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
log_setfd(int fd)
{
	log_fd = fd;
}

/*
 * Every field of every line is checked: the key is lowered once, so that
 * strstr(3) can look for the words (strcasestr(3) prepares each word
 * again at each call).  A key too long for the copy takes the slow way.
 */
int
log_key_is_secret(const char *key)
{
	char	 low[64];
	size_t	 i, n = strlen(key);

	if (n < sizeof(low)) {
		for (i = 0; i <= n; i++)
			low[i] = (char)tolower((unsigned char)key[i]);
		for (i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]);
		    i++)
			if (strstr(low, secret_words[i]) != NULL)
				return 1;
	} else
		for (i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]);
		    i++)
			if (strcasestr(key, secret_words[i]) != NULL)
				return 1;
	for (i = 0; i < sizeof(secret_names) / sizeof(secret_names[0]); i++)
		if (strcasecmp(key, secret_names[i]) == 0)
			return 1;
	return 0;
}

const char *
log_redact(char *buf, size_t bufsz, size_t secretlen)
{
	if (bufsz > 0)
		snprintf(buf, bufsz, "[redacted %zu bytes]", secretlen);
	return buf;
}

char *
log_json_escape(char *buf, size_t bufsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 o = 0;
	unsigned char	 c;
	char		 esc[7];
	size_t		 n;

	if (bufsz == 0)
		return buf;
	for (; (c = (unsigned char)*s) != '\0'; s++) {
		n = 0;
		if (c == '"' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)c;
		} else if (c == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (c == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'u';
			esc[n++] = '0';
			esc[n++] = '0';
			esc[n++] = hex[c >> 4];
			esc[n++] = hex[c & 0xf];
		} else
			esc[n++] = (char)c;
		if (o + n + 4 > bufsz) {
			/* Leave room for "..." and the NUL. */
			if (bufsz >= 4) {
				o = o + 3 < bufsz ? o : bufsz - 4;
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

/* Appends to a line buffer; silently truncates at the end. */
struct line {
	char	 buf[LOG_LINE_MAX];
	size_t	 len;
};

static void
line_add(struct line *l, const char *s)
{
	size_t	 n = strlen(s);

	if (n > sizeof(l->buf) - 2 - l->len)
		n = sizeof(l->buf) - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_add_json(struct line *l, const char *s)
{
	char	 esc[LOG_MSG_MAX];

	line_add(l, "\"");
	line_add(l, log_json_escape(esc, sizeof(esc), s));
	line_add(l, "\"");
}

/* Readable text keeps control characters out of terminals too. */
static void
line_add_text(struct line *l, const char *s)
{
	char	 esc[LOG_MSG_MAX];

	line_add(l, log_json_escape(esc, sizeof(esc), s));
}

static void
write_all(const char *buf, size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;

	while (off < len) {
		n = write(log_fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

static void
line_flush(struct line *l)
{
	l->buf[l->len++] = '\n';
	write_all(l->buf, l->len);
	explicit_bzero(l->buf, l->len);		/* what was written to it */
	l->len = 0;
}

static void
line_start(struct line *l, enum log_level lvl, const char *msg)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 t[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	l->len = 0;
	if (log_debug_mode) {
		line_add(l, log_procname);
		line_add(l, ": ");
		if (lvl == LOGL_WARN || lvl == LOGL_FATAL) {
			line_add(l, level_names[lvl]);
			line_add(l, ": ");
		}
		line_add_text(l, msg);
		return;
	}
	line_add(l, "{\"ts\":\"");
	line_add(l, t);
	line_add(l, "\",\"level\":\"");
	line_add(l, level_names[lvl]);
	line_add(l, "\",\"proc\":");
	line_add_json(l, log_procname);
	line_add(l, ",\"msg\":");
	line_add_json(l, msg);
}

static void
line_field(struct line *l, const char *key, const char *val)
{
	if (log_key_is_secret(key))
		val = "[redacted]";
	if (log_debug_mode) {
		line_add(l, " ");
		line_add_text(l, key);
		line_add(l, "=");
		line_add_text(l, val);
		return;
	}
	line_add(l, ",");
	line_add_json(l, key);
	line_add(l, ":");
	line_add_json(l, val);
}

static void
line_end(struct line *l)
{
	if (!log_debug_mode)
		line_add(l, "}");
	line_flush(l);
}

static int
log_wanted(enum log_level lvl)
{
	return lvl != LOGL_DEBUG || log_verbose > 0;
}

void
vlog(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	struct line	 l;
	char		 msg[LOG_MSG_MAX];
	int		 saved_errno = errno;

	if (!log_wanted(lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t	 n = strlen(msg);

		snprintf(msg + n, sizeof(msg) - n, ": %s",
		    strerror(saved_errno));
	}
	line_start(&l, lvl, msg);
	line_end(&l);
	explicit_bzero(msg, sizeof(msg));
	errno = saved_errno;
}

static void
line_fields(struct line *l, va_list ap)
{
	const char	*k, *v;

	while ((k = va_arg(ap, const char *)) != NULL) {
		if ((v = va_arg(ap, const char *)) == NULL)
			v = "";
		line_field(l, k, v);
	}
}

void
log_kv(enum log_level lvl, const char *msg, ...)
{
	struct line	 l;
	va_list		 ap;

	if (!log_wanted(lvl))
		return;
	line_start(&l, lvl, msg);
	va_start(ap, msg);
	line_fields(&l, ap);
	va_end(ap);
	line_end(&l);
}

void
log_kv_batch(struct log_batch *b, enum log_level lvl, const char *msg, ...)
{
	struct line	 l;
	va_list		 ap;

	if (!log_wanted(lvl))
		return;
	line_start(&l, lvl, msg);
	va_start(ap, msg);
	line_fields(&l, ap);
	va_end(ap);
	if (!log_debug_mode)
		line_add(&l, "}");
	l.buf[l.len++] = '\n';
	/* Whole lines only: a line never straddles two writes. */
	if (b->len + l.len > sizeof(b->buf))
		log_batch_flush(b);
	memcpy(b->buf + b->len, l.buf, l.len);
	b->len += l.len;
	explicit_bzero(l.buf, l.len);
}

void
log_batch_flush(struct log_batch *b)
{
	if (b->len == 0)
		return;
	write_all(b->buf, b->len);
	explicit_bzero(b->buf, b->len);
	b->len = 0;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_WARN, 1, fmt, ap);
	va_end(ap);
}

static unsigned long long
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* + 1: a throttle's zero means "never used". */
	return (unsigned long long)ts.tv_sec * 1000u +
	    (unsigned long long)ts.tv_nsec / 1000000u + 1;
}

/* Takes a token from t, or counts one more left out.  1: warn. */
static int
throttle_take(struct log_throttle *t, unsigned int *quiet)
{
	unsigned long long	 now = mono_ms(), n;
	int			 ok = 0;

	pthread_mutex_lock(&t->mtx);
	if (t->since_ms == 0) {
		t->tokens = t->burst;
		t->since_ms = now;
	} else if (t->every_ms > 0 && (n = (now - t->since_ms) /
	    t->every_ms) > 0) {
		t->tokens = n >= t->burst - t->tokens ? t->burst :
		    t->tokens + (unsigned int)n;
		t->since_ms += n * t->every_ms;
	}
	if (t->tokens > 0) {
		t->tokens--;
		*quiet = t->quiet;
		t->quiet = 0;
		ok = 1;
	} else
		t->quiet++;
	pthread_mutex_unlock(&t->mtx);
	return ok;
}

void
log_warnx_throttled(struct log_throttle *t, const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[LOG_MSG_MAX];
	unsigned int	 quiet;

	if (!throttle_take(t, &quiet))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (quiet > 0)
		log_warnx("%s (and %u more like it since the last warning)",
		    msg, quiet);
	else
		log_warnx("%s", msg);
	explicit_bzero(msg, sizeof(msg));
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_FATAL, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOGL_FATAL, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
