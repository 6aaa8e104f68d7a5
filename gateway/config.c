/*
 * gateway.conf (gateway/config.h): a table of statements for
 * common/conf.c, their handlers, and the checks that need the whole file.
 */
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/secfile.h"
#include "gateway/config.h"

#define DEFAULT_USER	"_dromosgw"

/* "1.2.3.4:443" or "[::1]:443": numeric only, no name lookups. */
static int
addr_parse(const char *s, struct gw_addr *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;
	const char		*colon, *end;
	char			 host[INET6_ADDRSTRLEN + 1];
	unsigned long		 port;
	char			*ep;
	size_t			 hl;

	memset(&a->ss, 0, sizeof(a->ss));
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		hl = (size_t)(end - s - 1);
		colon = end + 1;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &ep, 10);
	if (colon[1] < '0' || colon[1] > '9' || *ep != '\0' || errno != 0 ||
	    port == 0 || port > 65535)
		return -1;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof(*sin);
		a->loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
		a->loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
		return 0;
	}
	return -1;
}

static int
set_addr(struct conf *c, struct conf_stmt *st, struct gw_addr *a)
{
	char	*s;
	int	 line = conf_line(st);

	if (conf_string(c, st, &s) == -1)
		return -1;
	if (strlen(s) >= sizeof(a->text) || addr_parse(s, a) == -1) {
		conf_strfree(&s);
		return conf_error(c, line, "\"%s\": expected a numeric "
		    "address and port, like \"127.0.0.1:8443\" or "
		    "\"[::1]:8443\"", st->what);
	}
	snprintf(a->text, sizeof(a->text), "%s", s);
	a->line = line;
	conf_strfree(&s);
	return 0;
}

static int
h_listen(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct gw_conf	*cf = base;

	(void)kw;
	return set_addr(c, st, &cf->listen);
}

static int
h_metrics(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct gw_conf	*cf = base;

	(void)kw;
	return set_addr(c, st, &cf->metrics);
}

static int
h_tls_cert(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct gw_conf	*cf = base;
	char		*cert, *key;

	(void)kw;
	cf->tls_line = conf_line(st);
	if (conf_path(c, st, &cert) == -1)
		return -1;
	if (!conf_word(st, "key")) {
		conf_strfree(&cert);
		return conf_error(c, conf_line(st), "\"tls certificate\": "
		    "expected \"key\" and the key's path");
	}
	if (conf_path(c, st, &key) == -1) {
		conf_strfree(&cert);
		return -1;
	}
	conf_strset(&cf->tls_cert, cert);
	conf_strset(&cf->tls_key, key);
	cf->tls = 1;
	return 0;
}

static int
h_tls_off(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct gw_conf	*cf = base;

	(void)c;
	(void)kw;
	cf->tls_line = conf_line(st);
	cf->tls = 0;
	return 0;
}

/*
 * A DNS name: dot-separated labels of letters, digits and hyphens, no
 * label beginning or ending with a hyphen, no trailing dot.  A name whose
 * last label is all digits must be an IPv4 address: the resolver would
 * take "10.1" for one.
 */
static int
dns_name_ok(const char *s)
{
	struct in_addr	 a4;
	const char	*p;
	size_t		 label = 0;
	int		 digits = 1;

	if (strlen(s) > 253)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && (*p != '-' || label == 0))
			return 0;
		if (!isdigit((unsigned char)*p))
			digits = 0;
		if (++label > 63)
			return 0;
	}
	if (label == 0 || p[-1] == '-')
		return 0;
	return !digits || inet_pton(AF_INET, s, &a4) == 1;
}

static int
ip_literal(const char *s)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

/*
 * "name:port", "1.2.3.4:port" or "[v6]:port" into host (brackets off)
 * and port; -1 if malformed.  Nothing is resolved here.
 */
static int
hostport_parse(const char *s, char **hostp, char **portp)
{
	struct in6_addr	 a6;
	const char	*colon, *end;
	char		*host, *ep;
	unsigned long	 port;
	size_t		 hl;
	int		 v6 = s[0] == '[';

	if (v6) {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		hl = (size_t)(end - s - 1);
		colon = end + 1;
		s++;
	} else {
		if ((colon = strchr(s, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) == 0 || strlen(colon + 1) > 5)
		return -1;
	port = strtoul(colon + 1, &ep, 10);
	if (port == 0 || port > 65535)
		return -1;
	if ((host = strndup(s, hl)) == NULL)
		return -1;
	if (v6 ? inet_pton(AF_INET6, host, &a6) != 1 :
	    !dns_name_ok(host)) {
		free(host);
		return -1;
	}
	if ((*portp = strdup(colon + 1)) == NULL) {
		free(host);
		return -1;
	}
	*hostp = host;
	return 0;
}

/* Either broker statement, once: the other is refused. */
static int
broker_once(struct conf *c, struct gw_conf *cf, int line)
{
	if (cf->broker_line != 0)
		return conf_error(c, line, "\"broker socket\" and \"broker "
		    "tls\" exclude each other (the other is on line %d)",
		    cf->broker_line);
	cf->broker_line = line;
	return 0;
}

static int
h_broker_socket(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct gw_conf		*cf = base;
	struct sockaddr_un	 sun;
	char			*path;
	int			 line = conf_line(st);

	(void)kw;
	if (broker_once(c, cf, line) == -1 || conf_path(c, st, &path) == -1)
		return -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		conf_strfree(&path);
		return conf_error(c, line, "\"broker socket\": a path of at "
		    "most %zu bytes", sizeof(sun.sun_path) - 1);
	}
	conf_strset(&cf->broker_socket, path);
	return 0;
}

/* A keyword and the path that follows it. */
static int
keyword_path(struct conf *c, struct conf_stmt *st, const char *word,
    char **out)
{
	if (!conf_word(st, word))
		return conf_error(c, conf_line(st), "\"broker tls\": expected "
		    "\"%s\" and a path", word);
	return conf_path(c, st, out);
}

static void
broker_tls_free(struct gw_broker_tls *t)
{
	conf_strfree(&t->text);
	conf_strfree(&t->host);
	conf_strfree(&t->port);
	conf_strfree(&t->ca);
	conf_strfree(&t->cert);
	conf_strfree(&t->key);
	conf_strfree(&t->name);
	conf_strfree(&t->crl);
}

/* "name" was read: the name, a DNS name or an address, once. */
static int
broker_tls_name(struct conf *c, struct conf_stmt *st, struct gw_broker_tls *t)
{
	int	 line = conf_line(st);

	if (t->name != NULL)
		return conf_error(c, line, "\"broker tls\": duplicate "
		    "\"name\"");
	if (conf_string(c, st, &t->name) == -1)
		return -1;
	if (!dns_name_ok(t->name) && !ip_literal(t->name))
		return conf_error(c, line, "\"broker tls\": \"name\": "
		    "expected a DNS name or a numeric address");
	return 0;
}

/* "crl" was read: the path of the CA's revocation lists, once. */
static int
broker_tls_crl(struct conf *c, struct conf_stmt *st, struct gw_broker_tls *t)
{
	if (t->crl != NULL)
		return conf_error(c, conf_line(st), "\"broker tls\": duplicate "
		    "\"crl\"");
	if (!conf_more(st))
		return conf_error(c, conf_line(st), "\"broker tls\": \"crl\": "
		    "expected a path");
	return conf_path(c, st, &t->crl);
}

/*
 * broker tls "HOST:PORT" ca PATH certificate PATH key PATH
 *     [name NAME] [crl PATH]
 * The three files in that order; then the optional keywords, in any order.
 */
static int
h_broker_tls(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	struct gw_conf		*cf = base;
	struct gw_broker_tls	 t;
	int			 line = conf_line(st);

	(void)kw;
	memset(&t, 0, sizeof(t));
	if (broker_once(c, cf, line) == -1 ||
	    conf_string(c, st, &t.text) == -1)
		return -1;
	if (hostport_parse(t.text, &t.host, &t.port) == -1) {
		conf_error(c, line, "\"broker tls\": expected \"host:port\", "
		    "\"1.2.3.4:port\" or \"[::1]:port\", with a DNS name or "
		    "a numeric address, and a port of 1 to 65535");
		goto fail;
	}
	if (keyword_path(c, st, "ca", &t.ca) == -1 ||
	    keyword_path(c, st, "certificate", &t.cert) == -1 ||
	    keyword_path(c, st, "key", &t.key) == -1)
		goto fail;
	for (;;) {
		if (conf_word(st, "name")) {
			if (broker_tls_name(c, st, &t) == -1)
				goto fail;
		} else if (conf_word(st, "crl")) {
			if (broker_tls_crl(c, st, &t) == -1)
				goto fail;
		} else
			break;
	}
	broker_tls_free(&cf->broker_tls);
	cf->broker_tls = t;
	return 0;
 fail:
	broker_tls_free(&t);
	return -1;
}

/* "https://host[:port]": scheme and authority only, as browsers send it. */
static int
origin_ok(const char *o)
{
	const char	*p;

	if (strncmp(o, "https://", 8) == 0)
		p = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		p = o + 7;
	else
		return 0;
	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-' || *p == ':' || *p == '[' ||
		    *p == ']'))
			return 0;
	return 1;
}

static int
h_cors(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct gw_conf	*cf = base;
	char		*s;
	int		 line = conf_line(st);

	(void)kw;
	if (conf_string(c, st, &s) == -1)
		return -1;
	if (!origin_ok(s)) {
		conf_strfree(&s);
		return conf_error(c, line, "\"cors origin\": expected "
		    "\"https://host[:port]\" in lower case, without a path");
	}
	if (cf->ncors == GW_CORS_MAX) {
		conf_strfree(&s);
		return conf_error(c, line, "\"cors origin\": more than %d",
		    GW_CORS_MAX);
	}
	cf->cors[cf->ncors++] = s;
	return 0;
}

/* rate limit WHAT off | N [per second|per minute] [burst M] */
static int
h_rate(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct gw_rate	*r = (struct gw_rate *)((char *)base + kw->off);
	struct gw_rate	 nr;

	memset(&nr, 0, sizeof(nr));
	if (conf_word(st, "off")) {
		nr.off = 1;
		*r = nr;
		return 0;
	}
	if (conf_number(c, st, 1, 1000000, &nr.n) == -1)
		return -1;
	if (conf_word(st, "per")) {
		if (conf_word(st, "minute"))
			nr.per_minute = 1;
		else if (!conf_word(st, "second"))
			return conf_error(c, conf_line(st), "\"%s\": expected "
			    "\"per second\" or \"per minute\"", kw->phrase);
	}
	nr.burst = nr.n;
	if (conf_word(st, "burst") &&
	    conf_number(c, st, 1, 1000000, &nr.burst) == -1)
		return -1;
	*r = nr;
	return 0;
}

static const struct conf_keyword grammar[] = {
	{ "listen", NULL, 0, h_listen, 0, 0, 0, NULL },
	{ "tls certificate", "tls", 0, h_tls_cert, 0, 0, 0, NULL },
	{ "tls off", "tls", 0, h_tls_off, 0, 0, 0, NULL },
	{ "broker socket", NULL, 0, h_broker_socket, 0, 0, 0, NULL },
	{ "broker tls", NULL, 0, h_broker_tls, 0, 0, 0, NULL },
	{ "broker timeout", NULL, 0, conf_set_number,
	    offsetof(struct gw_conf, broker_timeout), 1, 600, "seconds" },
	{ "metrics listen", NULL, 0, h_metrics, 0, 0, 0, NULL },
	{ "cors origin", NULL, CONF_MULTI, h_cors, 0, 0, 0, NULL },
	{ "rate limit client", NULL, 0, h_rate,
	    offsetof(struct gw_conf, rl_client), 0, 0, NULL },
	{ "rate limit connection", NULL, 0, h_rate,
	    offsetof(struct gw_conf, rl_conn), 0, 0, NULL },
	{ "rate limit refresh", NULL, 0, h_rate,
	    offsetof(struct gw_conf, rl_refresh), 0, 0, NULL },
	{ "rate limit entries", NULL, 0, conf_set_number,
	    offsetof(struct gw_conf, rl_entries), 16, 16777216, NULL },
	{ "user", NULL, 0, conf_set_string, offsetof(struct gw_conf, user),
	    0, 0, NULL },
	{ "body limit", NULL, 0, conf_set_number,
	    offsetof(struct gw_conf, body_limit), 1024, 1048576, "bytes" },
	{ "client timeout", NULL, 0, conf_set_number,
	    offsetof(struct gw_conf, client_timeout), 1, 3600, "seconds" },
	{ "threads", NULL, 0, conf_set_number,
	    offsetof(struct gw_conf, threads), 1, 64, NULL },
};

static int
defaults(struct gw_conf *cf)
{
	memset(cf, 0, sizeof(*cf));
	cf->tls = -1;
	cf->broker_timeout = 30;
	cf->rl_client = (struct gw_rate){ 0, 50, 0, 100 };
	cf->rl_conn = (struct gw_rate){ 0, 20, 0, 40 };
	cf->rl_refresh = (struct gw_rate){ 0, 6, 1, 3 };
	cf->rl_entries = 65536;
	cf->body_limit = 65536;
	cf->client_timeout = 30;
	if ((cf->user = strdup(DEFAULT_USER)) == NULL)
		return -1;
	return 0;
}

/* What only the whole file can tell. */
static int
check(struct conf *c, struct gw_conf *cf)
{
	char	*path;

	if (cf->listen.line == 0)
		return conf_error(c, 0, "no \"listen\" statement");
	if (cf->tls == -1)
		return conf_error(c, 0, "no \"tls\" statement (\"tls "
		    "certificate ... key ...\", or \"tls off\" on a loopback "
		    "address)");
	if (cf->tls == 0 && !cf->listen.loopback)
		return conf_error(c, cf->tls_line, "\"tls off\": plain HTTP "
		    "is only served on a loopback address, and \"listen\" "
		    "(line %d) is not one", cf->listen.line);
	if (cf->metrics.line != 0 && !cf->metrics.loopback)
		return conf_error(c, cf->metrics.line, "\"metrics listen\": "
		    "metrics are plain HTTP and only served on a loopback "
		    "address");
	if (cf->metrics.line != 0 && cf->metrics.len == cf->listen.len &&
	    memcmp(&cf->metrics.ss, &cf->listen.ss, cf->listen.len) == 0)
		return conf_error(c, cf->metrics.line, "\"metrics listen\": "
		    "the same address as \"listen\" (line %d)",
		    cf->listen.line);
	/* As before "broker tls" existed: the broker of this host. */
	if (cf->broker_line == 0) {
		if ((path = strdup(GW_DEFAULT_BROKER)) == NULL)
			return conf_error(c, 0, "out of memory");
		conf_strset(&cf->broker_socket, path);
	}
	return 0;
}

int
gw_config_parse(const char *name, const char *buf, size_t len,
    struct gw_conf *cf, char *err, size_t errlen)
{
	struct conf	 c;
	int		 rv;

	conf_init(&c, name, buf, len, err, errlen);
	if (defaults(cf) == -1) {
		conf_error(&c, 0, "out of memory");
		rv = -1;
	} else
		rv = conf_parse(&c, grammar, sizeof(grammar) /
		    sizeof(grammar[0]), cf);
	if (rv == 0)
		rv = check(&c, cf);
	conf_free(&c);
	if (rv != 0)
		gw_config_free(cf);
	return rv;
}

int
gw_config_load(const char *path, struct gw_conf *cf, char *err,
    size_t errlen)
{
	char	*buf;
	size_t	 len;
	int	 rv;

	memset(cf, 0, sizeof(*cf));
	/* Not a secret (it names files, holds none): a regular text file. */
	if (secfile_read(path, 0, GW_CONF_MAX, &buf, &len, err, errlen) == -1)
		return -1;
	rv = gw_config_parse(path, buf, len, cf, err, errlen);
	secfile_free(buf, len);
	return rv;
}

void
gw_config_free(struct gw_conf *cf)
{
	size_t	 i;

	conf_strfree(&cf->tls_cert);
	conf_strfree(&cf->tls_key);
	conf_strfree(&cf->broker_socket);
	broker_tls_free(&cf->broker_tls);
	conf_strfree(&cf->user);
	for (i = 0; i < cf->ncors; i++)
		conf_strfree(&cf->cors[i]);
	cf->ncors = 0;
}

const char *
gw_broker_name(const struct gw_conf *cf)
{
	return cf->broker_tls.name != NULL ? cf->broker_tls.name :
	    cf->broker_tls.host;
}

double
gw_rate_per_second(const struct gw_rate *r)
{
	if (r->off)
		return 0;
	return r->per_minute ? (double)r->n / 60.0 : (double)r->n;
}

int
gw_cors_allowed(const struct gw_conf *cf, const char *origin)
{
	size_t	 i;

	if (origin == NULL)
		return 0;
	for (i = 0; i < cf->ncors; i++)
		if (strcmp(cf->cors[i], origin) == 0)
			return 1;
	return 0;
}

static void
dump_rate(FILE *fp, const char *what, const struct gw_rate *r)
{
	if (r->off)
		fprintf(fp, "rate limit %s off\n", what);
	else
		fprintf(fp, "rate limit %s %llu per %s burst %llu\n", what,
		    (unsigned long long)r->n, r->per_minute ? "minute" :
		    "second", (unsigned long long)r->burst);
}

/* A quoted string, with the escapes that make it read back the same. */
static void
dump_str(FILE *fp, const char *before, const char *s)
{
	fputs(before, fp);
	conf_dump_str(fp, s);
}

static void
dump_broker_tls(const struct gw_broker_tls *t, FILE *fp)
{
	dump_str(fp, "broker tls ", t->text);
	dump_str(fp, " ca ", t->ca);
	dump_str(fp, " certificate ", t->cert);
	dump_str(fp, " key ", t->key);
	if (t->name != NULL)
		dump_str(fp, " name ", t->name);
	if (t->crl != NULL)
		dump_str(fp, " crl ", t->crl);
	fputc('\n', fp);
}

/* Paths and origins are the operator's own; quoting keeps them parseable. */
void
gw_config_dump(const struct gw_conf *cf, FILE *fp)
{
	size_t	 i;

	dump_str(fp, "listen ", cf->listen.text);
	fputc('\n', fp);
	if (cf->tls == 1) {
		dump_str(fp, "tls certificate ", cf->tls_cert);
		dump_str(fp, " key ", cf->tls_key);
		fputc('\n', fp);
	} else
		fprintf(fp, "tls off\n");
	if (cf->broker_socket != NULL) {
		dump_str(fp, "broker socket ", cf->broker_socket);
		fputc('\n', fp);
	} else
		dump_broker_tls(&cf->broker_tls, fp);
	fprintf(fp, "broker timeout %llu\n",
	    (unsigned long long)cf->broker_timeout);
	if (cf->metrics.line != 0) {
		dump_str(fp, "metrics listen ", cf->metrics.text);
		fputc('\n', fp);
	}
	for (i = 0; i < cf->ncors; i++) {
		dump_str(fp, "cors origin ", cf->cors[i]);
		fputc('\n', fp);
	}
	dump_rate(fp, "client", &cf->rl_client);
	dump_rate(fp, "connection", &cf->rl_conn);
	dump_rate(fp, "refresh", &cf->rl_refresh);
	fprintf(fp, "rate limit entries %llu\n",
	    (unsigned long long)cf->rl_entries);
	dump_str(fp, "user ", cf->user);
	fputc('\n', fp);
	fprintf(fp, "body limit %llu\n", (unsigned long long)cf->body_limit);
	fprintf(fp, "client timeout %llu\n",
	    (unsigned long long)cf->client_timeout);
	if (cf->threads != 0)
		fprintf(fp, "threads %llu\n", (unsigned long long)cf->threads);
}
