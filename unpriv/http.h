/*
 * The broker's HTTP servers (libmicrohttpd) on unix sockets: the internal
 * API the gateway calls and the admin API dromosctl calls; and the same
 * internal API over TCP with mutual TLS for gateways on other hosts.  This file is
 * the plumbing they share: routing with path parameters, JSON bodies within
 * a size limit, request ids, RFC 9457 problem documents, an access log.
 * The routes themselves live in api.c and admin.c.
 */
#ifndef DROMOS_UNPRIV_HTTP_H
#define DROMOS_UNPRIV_HTTP_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#define HTTP_BODY_MAX		((size_t)64 * 1024)
#define HTTP_PARAMS_MAX		4
#define HTTP_REQID_MAX		64
#define PROBLEM_BASE		"urn:dromos:problem:"

struct broker;
struct client;
struct http_server;

struct http_req {
	struct MHD_Connection	*conn;
	struct broker		*b;
	const char		*method;
	const char		*path;
	const char		*route;		/* the matched pattern */
	char			*params[HTTP_PARAMS_MAX];
	size_t			 nparams;
	json_t			*body;		/* a JSON body, or NULL */
	char			 request_id[HTTP_REQID_MAX + 1];
	struct client		*client;	/* set by auth_client() */
	unsigned int		 status;	/* what was answered */
	const char		*connection;	/* for the access log */
	long			 retry_after;	/* seconds; 0: no header */
};

/* Route flags. */
#define HTTP_JSON	0x1	/* expects a JSON body (object) */

struct http_route {
	const char	*method;	/* GET routes also answer HEAD */
	const char	*pattern;	/* "/connections/{}": {} is a parameter */
	int		 flags;
	enum MHD_Result	(*handler)(struct http_req *);
};

struct http_server	*http_start(const char *name, int listenfd,
			    const struct http_route *, size_t nroutes,
			    struct broker *, unsigned int nthreads);
void			 http_stop(struct http_server *);
/*
 * Stopping without cutting anyone short: stop accepting and close the
 * listening socket (new clients are refused), answer every request from
 * now on with "Connection: close", and keep serving the connections there
 * are.  http_inflight() counts the requests received and not yet
 * answered; once it is 0 (or a deadline passed), http_stop().
 */
void			 http_drain(struct http_server *);
unsigned int		 http_inflight(const struct http_server *);

/* PEM text (NUL-terminated) of a TLS server. */
struct http_tls {
	const char	*cert;		/* its certificate, then any chain */
	const char	*key;		/* the certificate's private key */
	const char	*ca;		/* the CA(s) that sign its clients */
	const char	*crl;		/* their CRLs (PEM), or NULL */
	const char	*crl_path;	/* read from there; again when it changes */
};

/*
 * http_start() on a TCP socket, over TLS 1.3 only, where the handshake
 * fails unless the client presents a certificate that a CA of tls->ca
 * signed, valid now and fit for client authentication (no certificate,
 * no connection: nothing is answered).  The PEM text is parsed during the
 * call and not used after it: the caller wipes the key's.
 */
struct http_server	*http_start_tls(const char *name, int listenfd,
			    const struct http_route *, size_t nroutes,
			    struct broker *, unsigned int nthreads,
			    const struct http_tls *);

/* Answers.  Each takes ownership of the json_t it is given. */
enum MHD_Result	 http_json(struct http_req *, unsigned int status, json_t *);
enum MHD_Result	 http_empty(struct http_req *, unsigned int status);
enum MHD_Result	 http_problem(struct http_req *, unsigned int status,
		    const char *type, const char *title, const char *detail);
enum MHD_Result	 http_problem_errors(struct http_req *, unsigned int status,
		    const char *type, const char *title, const char *detail,
		    json_t *errors);
enum MHD_Result	 http_redirect(struct http_req *, const char *location);
enum MHD_Result	 http_html(struct http_req *, unsigned int status,
		    const char *html);

const char	*http_header(struct http_req *, const char *name);
const char	*http_query(struct http_req *, const char *name);

/* Common problems. */
enum MHD_Result	 http_unavailable(struct http_req *, const char *detail);
enum MHD_Result	 http_internal(struct http_req *);
enum MHD_Result	 http_not_found(struct http_req *, const char *detail);

/* A path parameter is safe to use as an id: [A-Za-z0-9._-]{1,max}. */
int		 http_id_valid(const char *, size_t max);

/*
 * A handler that must wait for something another thread finishes (the
 * keyholder's answer) calls http_suspend() and returns MHD_YES: its
 * connection waits and its thread serves others.  Once http_resume() has
 * been called, from any thread, exactly once, cont(r, arg) runs on the
 * connection's thread and answers as a handler does.  -1 when the server
 * is stopping: nothing is suspended, and the handler must answer itself.
 */
int		 http_suspend(struct http_req *, enum MHD_Result (*cont)(
		    struct http_req *, void *), void *arg);
void		 http_resume(struct http_req *);

#endif /* DROMOS_UNPRIV_HTTP_H */
