/*
 * dromos.conf: the statement table, defaults, checks that span statements,
 * loading the file safely, and printing it back for "dromosd -nv".
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/conf.h"
#include "common/secfile.h"
#include "priv/config.h"
#include "priv/khproto.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define NAME_MAX_LEN	32		/* user and group names */
#define PCR_MAX		23

static conf_handler kw_socket, kw_admin_socket, kw_database,
    kw_root_key_file, kw_root_key_tpm, kw_user, kw_metrics, kw_public_url,
    kw_return_url, kw_tls;

#define F(m)		offsetof(struct dromos_conf, m)

/* One row per statement; adding a statement is adding a row. */
static const struct conf_keyword keywords[] = {
	/* Before "listen", which would match it too. */
	{ .phrase = "listen tls", .parse = kw_tls },
	{ .phrase = "listen", .parse = kw_socket, .off = F(listen) },
	{ .phrase = "admin socket", .parse = kw_admin_socket,
	    .off = F(admin_socket) },
	{ .phrase = "database", .parse = kw_database, .off = F(database) },
	{ .phrase = "root key file", .group = "root key",
	    .parse = kw_root_key_file },
	{ .phrase = "root key tpm", .group = "root key",
	    .parse = kw_root_key_tpm },
	{ .phrase = "audit log", .parse = conf_set_path, .off = F(audit_log) },
	{ .phrase = "audit checkpoint every", .parse = conf_set_number,
	    .off = F(audit_every), .min = 1, .max = CONFIG_AUDIT_EVERY_MAX,
	    .unit = "lines" },
	{ .phrase = "audit checkpoint interval", .parse = conf_set_number,
	    .off = F(audit_interval), .min = 1,
	    .max = CONFIG_AUDIT_INTERVAL_MAX, .unit = "seconds" },
	{ .phrase = "user keyholder", .parse = kw_user,
	    .off = F(user_keyholder) },
	{ .phrase = "user broker", .parse = kw_user, .off = F(user_broker) },
	{ .phrase = "broker path", .parse = conf_set_path,
	    .off = F(broker_path) },
	{ .phrase = "keyring rotate after", .parse = conf_set_number,
	    .off = F(rotate_after), .min = 1, .max = CONFIG_ROTATE_MAX,
	    .unit = "seals" },
	{ .phrase = "access log keep", .parse = conf_set_number,
	    .off = F(access_keep), .min = 1, .max = KH_KEEP_DAYS_MAX,
	    .unit = "days" },
	{ .phrase = "metrics listen", .parse = kw_metrics,
	    .off = F(metrics_listen) },
	{ .phrase = "public url", .parse = kw_public_url,
	    .off = F(public_url) },
	{ .phrase = "allow return url", .flags = CONF_MULTI,
	    .parse = kw_return_url },
};

static char **
strfield(void *base, const struct conf_keyword *kw)
{
	return (char **)(void *)((char *)base + kw->off);
}

/* A unix socket path must fit sun_path with its NUL. */
static int
kw_socket(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct sockaddr_un	 sun;
	int			 line = conf_line(st);
	char			*s;

	if (conf_path(c, st, &s) == -1)
		return -1;
	if (strlen(s) >= sizeof(sun.sun_path)) {
		conf_strfree(&s);
		return conf_error(c, line, "\"%s\": path too long for a unix "
		    "socket (at most %zu bytes)", st->what,
		    sizeof(sun.sun_path) - 1);
	}
	conf_strset(strfield(base, kw), s);
	return 0;
}

/* libpq ignores blanks: a blank string would connect with defaults. */
static int
kw_database(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	int	 line = conf_line(st);
	char	*s;

	if (conf_string(c, st, &s) == -1)
		return -1;
	if (s[strspn(s, " \t\n\v\f\r")] == '\0') {
		conf_strfree(&s);
		return conf_error(c, line, "\"%s\": empty string", st->what);
	}
	conf_strset(strfield(base, kw), s);
	return 0;
}

/* POSIX portable names, as useradd(8) takes them. */
static int
name_ok(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || s[0] == '-' || s[0] == '.' ||
	    isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

static int
take_name(struct conf *c, struct conf_stmt *st, char **dst)
{
	int	 line = conf_line(st);
	char	*s;

	if (conf_string(c, st, &s) == -1)
		return -1;
	if (!name_ok(s)) {
		conf_error(c, line, "\"%s\": invalid name \"%.*s\"", st->what,
		    NAME_MAX_LEN, s);
		conf_strfree(&s);
		return -1;
	}
	conf_strset(dst, s);
	return 0;
}

static int
kw_admin_socket(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct dromos_conf	*cf = base;

	if (kw_socket(c, st, kw, base) == -1)
		return -1;
	if (conf_word(st, "group")) {
		st->what = "admin socket group";
		return take_name(c, st, &cf->admin_group);
	}
	return 0;
}

static int
kw_user(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	int	 line = conf_line(st);
	char	**dst = strfield(base, kw);

	if (take_name(c, st, dst) == -1)
		return -1;
	/* Privilege separation means nothing if a process stays root. */
	if (strcmp(*dst, "root") == 0)
		return conf_error(c, line, "\"%s\": must not be root",
		    st->what);
	return 0;
}

static int
kw_root_key_file(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct dromos_conf	*cf = base;

	(void)kw;
	if (conf_path(c, st, &cf->rootkey_path) == -1)
		return -1;
	cf->rootkey = ROOTKEY_FILE;
	return 0;
}

/* "sha256:0,7": a bank and distinct PCR indexes 0-23. */
static int
pcrs_ok(const char *s)
{
	/* The TPM code seals against the SHA-256 bank only. */
	static const char *const banks[] = {
		"sha256:",
	};
	const char	*p = NULL;
	uint32_t	 seen = 0;
	unsigned int	 n;
	size_t		 i;

	for (i = 0; i < nitems(banks) && p == NULL; i++)
		if (strncmp(s, banks[i], strlen(banks[i])) == 0)
			p = s + strlen(banks[i]);
	if (p == NULL)
		return 0;
	for (;;) {
		if (!isdigit((unsigned char)*p))
			return 0;
		for (n = 0; isdigit((unsigned char)*p) && n <= PCR_MAX; p++)
			n = n * 10 + (unsigned int)(*p - '0');
		if (n > PCR_MAX || (seen & (1U << n)))
			return 0;
		seen |= 1U << n;
		if (*p == '\0')
			return 1;
		if (*p++ != ',')
			return 0;
	}
}

static int
tpm_option(struct conf *c, struct conf_stmt *st, const char *what, char **dst)
{
	int	 line = conf_line(st);

	if (*dst != NULL)
		return conf_error(c, line, "\"root key tpm\": \"%s\" given "
		    "twice", what + sizeof("root key tpm"));
	st->what = what;
	return conf_string(c, st, dst);
}

static int
kw_root_key_tpm(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct dromos_conf	*cf = base;
	int			 line;

	(void)kw;
	if (conf_path(c, st, &cf->rootkey_path) == -1)
		return -1;
	cf->rootkey = ROOTKEY_TPM;
	for (;;) {
		line = conf_line(st);
		if (conf_word(st, "tcti")) {
			if (tpm_option(c, st, "root key tpm tcti",
			    &cf->tpm_tcti) == -1)
				return -1;
		} else if (conf_word(st, "pcrs")) {
			if (tpm_option(c, st, "root key tpm pcrs",
			    &cf->tpm_pcrs) == -1)
				return -1;
			if (!pcrs_ok(cf->tpm_pcrs))
				return conf_error(c, line, "\"%s\": invalid "
				    "PCR selection \"%.*s\" (want e.g. "
				    "sha256:0,7)", st->what, 64, cf->tpm_pcrs);
		} else
			return 0;
	}
}

/* host:port or [v6]:port, the shape; kw_metrics checks the address. */
static int
hostport_ok(const char *s)
{
	const char	*colon = strrchr(s, ':'), *p;
	unsigned long	 port = 0;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return 0;
	if (s[0] == '[' && colon[-1] != ']')
		return 0;
	if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)) != NULL)
		return 0;	/* a bare IPv6 address needs brackets */
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || port > 65535)
			return 0;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

static int
kw_metrics(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	int	 line = conf_line(st);
	char	*s;

	if (conf_string(c, st, &s) == -1)
		return -1;
	if (!hostport_ok(s)) {
		conf_error(c, line, "\"%s\": expected host:port, got \"%.*s\"",
		    st->what, 64, s);
		conf_strfree(&s);
		return -1;
	}
	/* Plain HTTP, no authentication: this host's own clients only. */
	if (addr_parse_local(s, NULL, NULL) != ADDR_LOOPBACK) {
		conf_error(c, line, "\"%s\": metrics are plain HTTP and only "
		    "served on a numeric loopback address (like 127.0.0.1:9101 "
		    "or [::1]:9101), got \"%.*s\"", st->what, 64, s);
		conf_strfree(&s);
		return -1;
	}
	conf_strset(strfield(base, kw), s);
	return 0;
}

/* One of the files of "listen tls"; the broker gets its path in KH_CONFIG. */
static int
tls_file(struct conf *c, struct conf_stmt *st, const char *what, char **dst)
{
	const char	*p;
	int		 line = conf_line(st);

	if (*dst != NULL)
		return conf_error(c, line, "\"%s\" given twice", what);
	st->what = what;
	if (conf_path(c, st, dst) == -1)
		return -1;
	if (strlen(*dst) >= KH_TLS_PATH_MAX)
		return conf_error(c, line, "\"%s\": path longer than %d bytes",
		    what, KH_TLS_PATH_MAX - 1);
	for (p = *dst; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return conf_error(c, line, "\"%s\": the path must be "
			    "printable ASCII", what);
	return 0;
}

/*
 * listen tls "host:port" certificate "/c" key "/k" client ca "/ca"
 * [client crl "/crl"]: the broker's API over TCP for gateways on other
 * hosts.  Any numeric address will do, unlike the metrics': every client
 * must present a certificate that the client CA signed (and that the CRLs
 * do not revoke).  The files are read by config_check_tls().
 */
static int
kw_tls(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct dromos_conf	*cf = base;
	int			 line = conf_line(st), r;
	char			*s;

	(void)kw;
	cf->tls_line = st->tok[0].line;
	if (conf_string(c, st, &s) == -1)
		return -1;
	if (addr_parse(s, NULL, NULL) == ADDR_MALFORMED) {
		conf_error(c, line, "\"%s\": expected a numeric address and "
		    "port (like 0.0.0.0:8444, [::]:8444 or 192.0.2.10:8444), "
		    "got \"%.*s\"", st->what, 64, s);
		conf_strfree(&s);
		return -1;
	}
	conf_strset(&cf->tls_listen, s);
	for (;;) {
		line = conf_line(st);
		if (conf_word(st, "certificate"))
			r = tls_file(c, st, "listen tls certificate",
			    &cf->tls_cert);
		else if (conf_word(st, "key"))
			r = tls_file(c, st, "listen tls key", &cf->tls_key);
		else if (conf_word(st, "client")) {
			if (conf_word(st, "ca"))
				r = tls_file(c, st, "listen tls client ca",
				    &cf->tls_ca);
			else if (conf_word(st, "crl"))
				r = tls_file(c, st, "listen tls client crl",
				    &cf->tls_crl);
			else
				return conf_error(c, line, "\"listen tls\": "
				    "expected \"client ca\" or \"client "
				    "crl\"");
		} else
			break;
		if (r == -1)
			return -1;
	}
	st->what = "listen tls";
	if (cf->tls_cert == NULL || cf->tls_key == NULL || cf->tls_ca == NULL)
		return conf_error(c, line, "\"listen tls\": needs certificate, "
		    "key and client ca (missing %s)", cf->tls_cert == NULL ?
		    "certificate" : cf->tls_key == NULL ? "key" : "client ca");
	return 0;
}

/*
 * The gateway's base URL, from which OAuth redirect URIs are made: https,
 * or http to a loopback host for development; no path, query or fragment.
 */
static int
url_ok(const char *s)
{
	static const char *const loopback[] = {
		"http://127.0.0.1", "http://localhost", "http://[::1]",
	};
	const char	*host = NULL, *p;
	size_t		 i, n = strlen(s);

	if (n == 0 || n > CONFIG_URL_MAX)
		return 0;
	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	for (i = 0; i < nitems(loopback) && host == NULL; i++) {
		n = strlen(loopback[i]);
		if (strncmp(s, loopback[i], n) == 0 &&
		    (s[n] == '\0' || s[n] == ':'))
			host = s + 7;
	}
	if (host == NULL || *host == '\0')
		return 0;
	for (p = host; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL)
			return 0;
	return 1;
}

static int
kw_public_url(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	int	 line = conf_line(st);
	char	*s;

	if (conf_string(c, st, &s) == -1)
		return -1;
	if (!url_ok(s)) {
		conf_error(c, line, "\"%s\": expected https://host[:port] (or "
		    "http:// to a loopback host), got \"%.*s\"", st->what, 64,
		    s);
		conf_strfree(&s);
		return -1;
	}
	conf_strset(strfield(base, kw), s);
	return 0;
}

/*
 * A deployment-wide return URL: https (or http to loopback), and a path
 * at least "/", so that it pins an origin when used as a prefix.
 */
static int
kw_return_url(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct dromos_conf	*cf = base;
	int			 line = conf_line(st);
	const char		*slash;
	char			*s, origin[CONFIG_URL_MAX + 1];

	(void)kw;
	if (conf_string(c, st, &s) == -1)
		return -1;
	slash = strchr(strstr(s, "://") ? strstr(s, "://") + 3 : s, '/');
	if (slash == NULL || (size_t)(slash - s) > CONFIG_URL_MAX) {
		conf_error(c, line, "\"%s\": expected a URL with a path, e.g. "
		    "\"https://app.example/done\", got \"%.*s\"", st->what, 64,
		    s);
		conf_strfree(&s);
		return -1;
	}
	memcpy(origin, s, (size_t)(slash - s));
	origin[slash - s] = '\0';
	if (!url_ok(origin) || strlen(s) > CONFIG_URL_MAX - 1 ||
	    strpbrk(s, " \t#") != NULL) {
		conf_error(c, line, "\"%s\": expected https://host[:port]/path "
		    "(or http:// to a loopback host), got \"%.*s\"", st->what,
		    64, s);
		conf_strfree(&s);
		return -1;
	}
	if (cf->nreturn_urls == CONFIG_RETURN_URLS_MAX) {
		conf_error(c, line, "\"%s\": at most %d", st->what,
		    CONFIG_RETURN_URLS_MAX);
		conf_strfree(&s);
		return -1;
	}
	cf->return_urls[cf->nreturn_urls++] = s;
	return 0;
}

static int
set_default(char **dst, const char *s)
{
	return (*dst = strdup(s)) == NULL ? -1 : 0;
}

static int
config_defaults(struct dromos_conf *cf)
{
	cf->audit_every = CONFIG_AUDIT_EVERY;
	cf->audit_interval = CONFIG_AUDIT_INTERVAL;
	cf->rotate_after = CONFIG_ROTATE_AFTER;
	if (set_default(&cf->listen, CONFIG_LISTEN) == -1 ||
	    set_default(&cf->public_url, CONFIG_PUBLIC_URL) == -1 ||
	    set_default(&cf->admin_socket, CONFIG_ADMIN_SOCKET) == -1 ||
	    set_default(&cf->user_keyholder, CONFIG_USER_KEYHOLDER) == -1 ||
	    set_default(&cf->user_broker, CONFIG_USER_BROKER) == -1 ||
	    set_default(&cf->broker_path, DROMOS_BROKER_PATH) == -1)
		return -1;
	return 0;
}

/* Port and family equal, and the addresses equal or one a wildcard. */
static int
addr_overlap(const char *a, const char *b)
{
	static const struct in6_addr	 any6 = IN6ADDR_ANY_INIT;
	struct sockaddr_storage		 sa, sb;
	struct sockaddr_in		*a4 = (struct sockaddr_in *)&sa;
	struct sockaddr_in		*b4 = (struct sockaddr_in *)&sb;
	struct sockaddr_in6		*a6 = (struct sockaddr_in6 *)&sa;
	struct sockaddr_in6		*b6 = (struct sockaddr_in6 *)&sb;

	if (addr_parse(a, &sa, NULL) == ADDR_MALFORMED ||
	    addr_parse(b, &sb, NULL) == ADDR_MALFORMED ||
	    sa.ss_family != sb.ss_family)
		return 0;
	if (sa.ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY));
	return a6->sin6_port == b6->sin6_port &&
	    (IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
	    IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &any6) ||
	    IN6_ARE_ADDR_EQUAL(&b6->sin6_addr, &any6));
}

/* What no single statement can judge. */
static int
config_check(struct conf *c, const struct dromos_conf *cf)
{
	if (cf->database == NULL)
		return conf_error(c, 0, "no \"database\" statement");
	if (cf->rootkey == ROOTKEY_NONE)
		return conf_error(c, 0, "no \"root key\" statement");
	if (cf->audit_log == NULL)
		return conf_error(c, 0, "no \"audit log\" statement");
	if (strcmp(cf->listen, cf->admin_socket) == 0)
		return conf_error(c, 0, "\"listen\" and \"admin socket\" name "
		    "the same path");
	if (strcmp(cf->user_keyholder, cf->user_broker) == 0)
		return conf_error(c, 0, "\"user keyholder\" and \"user broker\" "
		    "name the same user");
	if (cf->tls_listen != NULL && cf->metrics_listen != NULL &&
	    addr_overlap(cf->tls_listen, cf->metrics_listen))
		return conf_error(c, cf->tls_line, "\"listen tls\" and "
		    "\"metrics listen\" would share a port");
	return 0;
}

int
config_parse_buf(const char *buf, size_t len, const char *name,
    struct dromos_conf *cf, char *err, size_t errlen)
{
	struct conf	 c;
	int		 r;

	memset(cf, 0, sizeof(*cf));
	conf_init(&c, name, buf, len, err, errlen);
	if (config_defaults(cf) == -1)
		r = conf_error(&c, 0, "out of memory");
	else if ((r = conf_parse(&c, keywords, nitems(keywords), cf)) == 0)
		r = config_check(&c, cf);
	conf_free(&c);
	if (r == -1)
		config_free(cf);
	return r;
}

void
config_free(struct dromos_conf *cf)
{
	conf_strfree(&cf->listen);
	conf_strfree(&cf->admin_socket);
	conf_strfree(&cf->admin_group);
	conf_strfree(&cf->database);
	conf_strfree(&cf->rootkey_path);
	conf_strfree(&cf->tpm_tcti);
	conf_strfree(&cf->tpm_pcrs);
	conf_strfree(&cf->audit_log);
	conf_strfree(&cf->user_keyholder);
	conf_strfree(&cf->user_broker);
	conf_strfree(&cf->broker_path);
	conf_strfree(&cf->metrics_listen);
	conf_strfree(&cf->tls_listen);
	conf_strfree(&cf->tls_cert);
	conf_strfree(&cf->tls_key);
	conf_strfree(&cf->tls_ca);
	conf_strfree(&cf->tls_crl);
	conf_strfree(&cf->public_url);
	while (cf->nreturn_urls > 0)
		conf_strfree(&cf->return_urls[--cf->nreturn_urls]);
	explicit_bzero(cf, sizeof(*cf));
}

/* Loading. */

int
config_check_file_secrecy(int fd, const char *path, char *err, size_t errlen)
{
	return secfile_check(fd, path, err, errlen);
}

/* The file's checks and reading are secfile's: a secret, like a key. */
int
config_load(const char *path, struct dromos_conf *cf, char *err,
    size_t errlen)
{
	char	*buf;
	size_t	 len;
	int	 r;

	memset(cf, 0, sizeof(*cf));
	if (secfile_read(path, SECFILE_SECRET, CONFIG_FILE_MAX, &buf, &len,
	    err, errlen) == -1)
		return -1;
	if ((r = config_parse_buf(buf, len, path, cf, err, errlen)) == 0 &&
	    (r = config_check_tls(cf, path, err, errlen)) == -1)
		config_free(cf);
	secfile_free(buf, len);
	return r;
}

/* Redaction of libpq connection strings. */

struct sbuf {
	char	*p;
	size_t	 len, cap;
	int	 over;
};

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->over || n >= b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

/*
 * password, sslpassword, and anything percent-encoded (libpq decodes URI
 * parameter names, so "pass%77ord" is a password too).
 */
static int
conninfo_key_secret(const char *k, size_t n)
{
	static const char	 pw[] = "password";
	size_t			 i, j;

	if (memchr(k, '%', n) != NULL)
		return 1;
	for (i = 0; i + sizeof(pw) - 1 <= n; i++) {
		for (j = 0; j < sizeof(pw) - 1; j++)
			if (tolower((unsigned char)k[i + j]) != pw[j])
				break;
		if (j == sizeof(pw) - 1)
			return 1;
	}
	return 0;
}

static const char *
skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* "key = value ..." as libpq reads it: values bare or 'quoted'. */
static int
redact_kv(const char *p, struct sbuf *b)
{
	const char	*k, *v;
	size_t		 kl;

	for (p = skip_space(p); *p != '\0'; p = skip_space(p)) {
		k = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		kl = (size_t)(p - k);
		p = skip_space(p);
		if (kl == 0 || *p++ != '=')
			return -1;
		v = p = skip_space(p);
		if (*p == '\'') {
			for (p++; *p != '\''; p++) {
				if (*p == '\\')
					p++;
				if (*p == '\0')
					return -1;
			}
			p++;
		} else {
			for (; *p != '\0' && !isspace((unsigned char)*p); p++)
				if (*p == '\\' && *++p == '\0')
					return -1;
		}
		if (b->len > 0)
			sbuf_add(b, " ", 1);
		sbuf_add(b, k, kl);
		sbuf_add(b, "=", 1);
		if (conninfo_key_secret(k, kl))
			sbuf_adds(b, "[redacted]");
		else
			sbuf_add(b, v, (size_t)(p - v));
	}
	return 0;
}

/*
 * postgresql://user:password@host/db?password=...: the userinfo password
 * is everything between the first ":" and the last "@" before the query,
 * which errs towards redacting too much.
 */
static int
redact_uri(const char *s, size_t schemelen, struct sbuf *b)
{
	const char	*p = s + schemelen, *q, *at = NULL, *colon, *e, *eq;

	q = p + strcspn(p, "?");
	for (e = p; e < q; e++)
		if (*e == '@')
			at = e;
	sbuf_add(b, s, schemelen);
	if (at != NULL &&
	    (colon = memchr(p, ':', (size_t)(at - p))) != NULL) {
		sbuf_add(b, p, (size_t)(colon - p) + 1);
		sbuf_adds(b, "[redacted]");
		p = at;
	}
	sbuf_add(b, p, (size_t)(q - p));
	if (*q == '\0')
		return 0;
	sbuf_add(b, "?", 1);
	for (p = q + 1; ; p = e + 1) {
		e = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq != NULL && conninfo_key_secret(p, (size_t)(eq - p))) {
			sbuf_add(b, p, (size_t)(eq - p) + 1);
			sbuf_adds(b, "[redacted]");
		} else
			sbuf_add(b, p, (size_t)(e - p));
		if (*e == '\0')
			return 0;
		sbuf_add(b, "&", 1);
	}
}

int
config_redact_conninfo(const char *in, char *out, size_t outlen)
{
	static const char *const schemes[] = {
		"postgresql://", "postgres://",
	};
	struct sbuf	 b = { out, 0, outlen, 0 };
	size_t		 i;
	int		 r = 1;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	in = skip_space(in);
	for (i = 0; i < nitems(schemes) && r == 1; i++)
		if (strncmp(in, schemes[i], strlen(schemes[i])) == 0)
			r = redact_uri(in, strlen(schemes[i]), &b);
	if (r == 1)
		r = redact_kv(in, &b);
	if (r == -1 || b.over) {
		/* Unparsable or too long: show none of it. */
		snprintf(out, outlen, "[redacted]");
		return r == -1 ? 0 : -1;
	}
	return 0;
}

/* Printing. */

static void
dump_line(FILE *fp, const char *kw, const char *s)
{
	if (s == NULL)
		return;
	fprintf(fp, "%s ", kw);
	conf_dump_str(fp, s);
	fputc('\n', fp);
}

static void
dump_database(FILE *fp, const char *db)
{
	size_t	 n;
	char	*red;

	if (db == NULL)
		return;
	n = strlen(db) * 2 + 64;
	if ((red = malloc(n)) == NULL ||
	    config_redact_conninfo(db, red, n) == -1)
		dump_line(fp, "database", "[redacted]");
	else
		dump_line(fp, "database", red);
	free(red);
}

void
config_dump(const struct dromos_conf *cf, FILE *fp)
{
	size_t	 i;

	dump_line(fp, "listen", cf->listen);
	if (cf->admin_socket != NULL) {
		fputs("admin socket ", fp);
		conf_dump_str(fp, cf->admin_socket);
		if (cf->admin_group != NULL) {
			fputs(" group ", fp);
			conf_dump_str(fp, cf->admin_group);
		}
		fputc('\n', fp);
	}
	dump_database(fp, cf->database);
	if (cf->rootkey == ROOTKEY_FILE)
		dump_line(fp, "root key file", cf->rootkey_path);
	else if (cf->rootkey == ROOTKEY_TPM && cf->rootkey_path != NULL) {
		fputs("root key tpm ", fp);
		conf_dump_str(fp, cf->rootkey_path);
		if (cf->tpm_tcti != NULL) {
			fputs(" tcti ", fp);
			conf_dump_str(fp, cf->tpm_tcti);
		}
		if (cf->tpm_pcrs != NULL) {
			fputs(" pcrs ", fp);
			conf_dump_str(fp, cf->tpm_pcrs);
		}
		fputc('\n', fp);
	}
	dump_line(fp, "audit log", cf->audit_log);
	fprintf(fp, "audit checkpoint every %llu lines\n",
	    (unsigned long long)cf->audit_every);
	fprintf(fp, "audit checkpoint interval %llu seconds\n",
	    (unsigned long long)cf->audit_interval);
	dump_line(fp, "user keyholder", cf->user_keyholder);
	dump_line(fp, "user broker", cf->user_broker);
	dump_line(fp, "broker path", cf->broker_path);
	fprintf(fp, "keyring rotate after %llu seals\n",
	    (unsigned long long)cf->rotate_after);
	if (cf->access_keep != 0)
		fprintf(fp, "access log keep %llu days\n",
		    (unsigned long long)cf->access_keep);
	dump_line(fp, "metrics listen", cf->metrics_listen);
	if (cf->tls_listen != NULL) {
		fputs("listen tls ", fp);
		conf_dump_str(fp, cf->tls_listen);
		fputs(" certificate ", fp);
		conf_dump_str(fp, cf->tls_cert);
		fputs(" key ", fp);
		conf_dump_str(fp, cf->tls_key);
		fputs(" client ca ", fp);
		conf_dump_str(fp, cf->tls_ca);
		if (cf->tls_crl != NULL) {
			fputs(" client crl ", fp);
			conf_dump_str(fp, cf->tls_crl);
		}
		fputc('\n', fp);
	}
	dump_line(fp, "public url", cf->public_url);
	for (i = 0; i < cf->nreturn_urls; i++)
		dump_line(fp, "allow return url", cf->return_urls[i]);
}
