/*
 * An HTTP client for the broker's admin socket (unpriv/API.md): libcurl
 * over AF_UNIX, JSON in and out, and problem documents turned into the
 * error messages of a command-line tool.
 *
 * What passes through here can be secret: a provider file holds its
 * client_secret, and "client add" gets a client's only copy of its token.
 * So jansson and libcurl allocate through zfree()/zrealloc(), which wipe
 * every block before giving it back, and our own buffers are wiped too.
 * The secrets do not outlive their use in this process's heap.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl/admin.h"
#include "ctl/table.h"

#define CONNECT_TIMEOUT	10L	/* seconds */
#define REQUEST_TIMEOUT	60L	/* seconds, the whole exchange */

/* -s; without it $DROMOS_ADMIN_SOCKET, else ADMIN_SOCKET_DEFAULT. */
static const char	*socket_opt;
static int		 json_opt;	/* --json */
static long		 timeout_s = REQUEST_TIMEOUT;
static int		 inited;

/* Response bytes as they arrive, capped at ADMIN_RESPONSE_MAX. */
struct rbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 toolarge;
};

static void
zfree(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* realloc(3) that never leaves the old contents behind in a free block. */
static void *
zrealloc(void *p, size_t n)
{
	size_t	 old;
	void	*q;

	if (p == NULL)
		return malloc(n);
	if (n == 0)
		n = 1;
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	zfree(p);
	return q;
}

static char *
zstrdup(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p;

	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

static void
admin_init(void)
{
	if (inited)
		return;
	json_set_alloc_funcs(malloc, zfree);
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, zfree, zrealloc,
	    zstrdup, calloc) != CURLE_OK)
		errx(1, "libcurl: cannot initialise");
	inited = 1;
}

int
admin_globals(int argc, char *argv[])
{
	const char	*a;
	int		 i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			return i;
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-j") == 0 || strcmp(a, "--json") == 0)
			json_opt = 1;
		else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (++i == argc)
				return -1;
			socket_opt = argv[i];
		} else if (strncmp(a, "--socket=", 9) == 0)
			socket_opt = a + 9;
		else if (strncmp(a, "-s", 2) == 0)
			socket_opt = a + 2;
		else
			return -1;
	}
	return i - 1;
}

int
admin_option(int ch, const char *arg)
{
	admin_init();
	switch (ch) {
	case 'j':
		json_opt = 1;
		return 0;
	case 's':
		socket_opt = arg;
		return 0;
	default:
		return -1;
	}
}

int
admin_args(int argc, char *argv[], int nops)
{
	static const struct option	 longopts[] = {
		ADMIN_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int				 ch, i;

	admin_init();
	while ((ch = getopt_long(argc, argv, ADMIN_SHORTOPTS, longopts,
	    NULL)) != -1)
		if (admin_option(ch, optarg) == -1)
			return -1;
	if (argc - optind != nops)
		return -1;
	for (i = optind; i < argc; i++)
		if (argv[i][0] == '\0')
			return -1;
	return optind;
}

void
admin_set_timeout(long seconds)
{
	timeout_s = seconds;
}

int
admin_want_json(void)
{
	return json_opt;
}

static const char *
socket_path(void)
{
	const char	*s;

	if (socket_opt != NULL)
		return socket_opt;
	if ((s = getenv(ADMIN_SOCKET_ENV)) != NULL && *s != '\0')
		return s;
	return ADMIN_SOCKET_DEFAULT;
}

/* Untrusted text from the broker, made safe, as one warnx(3) line. */
static void
warn_safe2(const char *a, const char *b)
{
	char	*sa, *sb = NULL;

	sa = table_safe(a, strlen(a));
	if (b != NULL && *b != '\0')
		sb = table_safe(b, strlen(b));
	if (sb != NULL)
		warnx("%s: %s", sa, sb);
	else
		warnx("%s", sa);
	free(sa);
	free(sb);
}

/*
 * An error answer: "title: detail" and one line per errors[] member, or the
 * bare status when the body is not a problem document.
 */
static void
print_problem(long status, const struct rbuf *rb)
{
	const json_t	*e;
	json_t		*p = NULL;
	const char	*title, *detail, *path, *reason;
	size_t		 i;

	if (rb->len > 0)
		p = json_loadb(rb->p, rb->len, 0, NULL);
	title = json_string_value(json_object_get(p, "title"));
	detail = json_string_value(json_object_get(p, "detail"));
	if (title != NULL && *title != '\0')
		warn_safe2(title, detail);
	else if (detail != NULL && *detail != '\0')
		warn_safe2(detail, NULL);
	else
		warnx("the broker answered HTTP %ld", status);
	for (i = 0; i < json_array_size(json_object_get(p, "errors")); i++) {
		e = json_array_get(json_object_get(p, "errors"), i);
		path = json_string_value(json_object_get(e, "path"));
		reason = json_string_value(json_object_get(e, "reason"));
		if (path != NULL || reason != NULL)
			warn_safe2(path != NULL ? path : "$",
			    reason != NULL ? reason : "invalid");
	}
	json_decref(p);
}

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct rbuf	*rb = arg;
	size_t		 n = size * nmemb, cap;
	char		*np;

	if (n > ADMIN_RESPONSE_MAX - rb->len) {
		rb->toolarge = 1;
		return 0;
	}
	if (n > rb->cap - rb->len) {
		cap = rb->cap == 0 ? 4096 : rb->cap;
		while (n > cap - rb->len)
			cap *= 2;
		if ((np = zrealloc(rb->p, cap)) == NULL)
			return 0;
		rb->p = np;
		rb->cap = cap;
	}
	memcpy(rb->p + rb->len, data, n);
	rb->len += n;
	return n;
}

/* Why the exchange failed, in one line that names the socket. */
static void
print_transport(CURL *h, CURLcode rc, const char *sock, const char *ebuf,
    const struct rbuf *rb)
{
	long	 oserr = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		(void)curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
		warnx("cannot connect to %s: %s%s", sock,
		    oserr != 0 ? strerror((int)oserr) : "connection failed",
		    oserr == ENOENT || oserr == ECONNREFUSED ?
		    " (is dromosd running?)" : "");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		warnx("%s: no answer from the broker in time", sock);
		break;
	case CURLE_FILESIZE_EXCEEDED:
		warnx("%s: the answer is larger than %lu bytes", sock,
		    ADMIN_RESPONSE_MAX);
		break;
	case CURLE_WRITE_ERROR:
		if (rb->toolarge) {
			warnx("%s: the answer is larger than %lu bytes", sock,
			    ADMIN_RESPONSE_MAX);
			break;
		}
		/* FALLTHROUGH */
	default:
		/* libcurl's message may quote what the broker sent. */
		warn_safe2(sock, *ebuf != '\0' ? ebuf : curl_easy_strerror(rc));
		break;
	}
}

/* http://localhost/coll[/id], id percent-encoded; NULL on failure. */
static char *
make_url(CURL *h, const char *coll, const char *id)
{
	char	*esc = NULL, *url;
	size_t	 len;

	if (id != NULL) {
		if (strlen(id) > INT32_MAX ||
		    (esc = curl_easy_escape(h, id, (int)strlen(id))) == NULL)
			return NULL;
	}
	len = sizeof("http://localhost/") + strlen(coll) +
	    (esc != NULL ? 1 + strlen(esc) : 0);
	if ((url = malloc(len)) != NULL)
		(void)snprintf(url, len, "http://localhost/%s%s%s", coll,
		    esc != NULL ? "/" : "", esc != NULL ? esc : "");
	curl_free(esc);
	return url;
}

static int
setup(CURL *h, const char *sock, const char *url, const char *method,
    const char *body, size_t bodylen, struct curl_slist *hdrs,
    struct rbuf *rb, char *ebuf)
{
	CURLcode	 rc = CURLE_OK;

#define SET(opt, val)	do {					\
	if (rc == CURLE_OK)					\
		rc = curl_easy_setopt(h, (opt), (val));		\
} while (0)
	SET(CURLOPT_ERRORBUFFER, ebuf);
	SET(CURLOPT_UNIX_SOCKET_PATH, sock);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http");
	/* Never a proxy from http_proxy and friends. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_PATH_AS_IS, 1L);	/* an id of ".." stays an id */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	SET(CURLOPT_TIMEOUT, timeout_s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ADMIN_RESPONSE_MAX);
	SET(CURLOPT_USERAGENT, "dromosctl");
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, rb);
	if (body != NULL) {
		SET(CURLOPT_POSTFIELDS, body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
	}
	SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
	if (rc != CURLE_OK) {
		warnx("libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static struct curl_slist *
add_header(struct curl_slist *list, const char *hdr)
{
	struct curl_slist	*t;

	if ((t = curl_slist_append(list, hdr)) == NULL)
		errx(1, "libcurl: out of memory");
	return t;
}

/* A 2xx answer's JSON, or NULL for an empty one; -1 if it is not JSON. */
static int
parse_answer(const struct rbuf *rb, json_t **resp)
{
	json_error_t	 jerr;

	*resp = NULL;
	if (rb->len == 0)
		return 0;
	if ((*resp = json_loadb(rb->p, rb->len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		warnx("malformed answer from the broker: not JSON");
		return -1;
	}
	return 0;
}

int
admin_request(const char *method, const char *coll, const char *id,
    const char *body, size_t bodylen, json_t **resp)
{
	struct sockaddr_un	 sun;
	struct curl_slist	*hdrs = NULL;
	struct rbuf		 rb = { NULL, 0, 0, 0 };
	const char		*sock = socket_path();
	char			 ebuf[CURL_ERROR_SIZE] = "";
	char			*url = NULL;
	CURL			*h;
	CURLcode		 rc;
	long			 status = 0;
	int			 rv = -1;

	admin_init();
	*resp = NULL;
	if (*sock == '\0') {
		warnx("empty admin socket path");
		return -1;
	}
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		warnx("%s: socket path too long", sock);
		return -1;
	}
	if ((h = curl_easy_init()) == NULL || (url = make_url(h, coll,
	    id)) == NULL)
		errx(1, "libcurl: out of memory");
	hdrs = add_header(hdrs, "Accept: application/json");
	hdrs = add_header(hdrs, "Expect:");	/* no 100-continue wait */
	if (body != NULL)
		hdrs = add_header(hdrs, "Content-Type: application/json");
	if (setup(h, sock, url, method, body, bodylen, hdrs, &rb, ebuf) == 0) {
		if ((rc = curl_easy_perform(h)) != CURLE_OK)
			print_transport(h, rc, sock, ebuf, &rb);
		else {
			(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
			    &status);
			if (status >= 200 && status <= 299)
				rv = parse_answer(&rb, resp);
			else
				print_problem(status, &rb);
		}
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
	zfree(rb.p);
	return rv;
}

/* jansson's message, without the "near '...'" that may quote a secret. */
static void
warn_parse(const char *path, const json_error_t *jerr)
{
	char	 text[JSON_ERROR_TEXT_LENGTH];
	char	*near;

	(void)snprintf(text, sizeof(text), "%s", jerr->text);
	if ((near = strstr(text, " near ")) != NULL)
		*near = '\0';
	warnx("%s:%d:%d: not valid JSON: %s", path, jerr->line, jerr->column,
	    text);
}

/* Up to ADMIN_FILE_MAX bytes of fd into buf (ADMIN_FILE_MAX + 1 long). */
static ssize_t
read_capped(int fd, const char *path, char *buf)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off <= ADMIN_FILE_MAX) {
		n = read(fd, buf + off, ADMIN_FILE_MAX + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			warn("%s", path);
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	if (off > ADMIN_FILE_MAX) {
		warnx("%s: larger than %lu bytes", path, ADMIN_FILE_MAX);
		return -1;
	}
	return (ssize_t)off;
}

json_t *
admin_file_read(const char *path, char **bufp, size_t *lenp)
{
	json_error_t	 jerr;
	json_t		*doc = NULL;
	char		*buf;
	ssize_t		 n;
	int		 fd;

	admin_init();
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		warn("%s", path);
		return NULL;
	}
	if ((buf = malloc(ADMIN_FILE_MAX + 1)) == NULL)
		err(1, NULL);
	n = read_capped(fd, path, buf);
	if (fd != STDIN_FILENO)
		(void)close(fd);
	if (n >= 0) {
		if ((doc = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES,
		    &jerr)) == NULL)
			warn_parse(path, &jerr);
		else if (!json_is_object(doc)) {
			warnx("%s: not a JSON object", path);
			json_decref(doc);
			doc = NULL;
		}
	}
	if (doc == NULL) {
		/* Whatever was read, however much. */
		admin_file_free(buf, ADMIN_FILE_MAX + 1);
		return NULL;
	}
	*bufp = buf;
	*lenp = (size_t)n;
	return doc;
}

void
admin_file_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}
