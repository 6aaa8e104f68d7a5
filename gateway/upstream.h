/*
 * The gateway's HTTP/1.1 client to the broker, over a pool of kept-alive
 * connections: to its internal socket (AF_UNIX), or to its TLS listener
 * on another host (TCP, TLS 1.3 with a client certificate, "broker tls").
 *
 * The broker is libmicrohttpd answering from buffers: every answer has a
 * Content-Length (or ends with the connection).  So the client is small:
 * one request, one response, then the connection goes back to the pool
 * unless either side said "Connection: close".  Idle connections stay in
 * the epoll set, so one the broker closes is closed here when it says so;
 * if a pooled connection fails anyway before any byte of an answer, an
 * idempotent request is sent once more on a new connection (a request
 * that is not idempotent first checks that its pooled connection is still
 * open).  Idle connections are not reused after UP_IDLE_MAX_MS, before
 * the broker's own idle timeout.
 *
 * Only the response headers the gateway passes on are kept: Content-Type,
 * Location, Retry-After and Allow.
 *
 * Over TLS, a new connection connects and shakes hands before its
 * request is sent, all within the exchange's deadline.  A handshake that
 * fails (the broker's certificate does not verify, or the broker refuses
 * ours) ends the exchange with UP_ECONNECT, as an absent broker does,
 * and is logged with its reason, at most once every few seconds.  Idle
 * TLS connections may receive TLS handshake messages (session tickets,
 * key updates): those are read and the connection stays in the pool;
 * application data or anything else still means it is closing.
 * OpenSSL writes with write(2): the process must ignore SIGPIPE, as
 * dromos-gateway does.
 */
#ifndef DROMOS_GATEWAY_UPSTREAM_H
#define DROMOS_GATEWAY_UPSTREAM_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define UP_HEAD_MAX	((size_t)16 * 1024)	/* response status + headers */
#define UP_BODY_MAX	((size_t)8 * 1024 * 1024)
#define UP_IDLE_MAX_MS	15000u			/* the broker's is 30 s */
#define UP_VALUE_MAX	2048			/* a kept header's value */

enum up_error {
	UP_OK = 0,
	UP_ECONNECT,		/* no broker there, or no TLS handshake */
	UP_EIO,			/* the connection failed mid-way */
	UP_ETIMEOUT,		/* the broker did not answer in time */
	UP_EPROTO,		/* the answer is not HTTP/1.1 as we know it */
	UP_EINVAL,		/* the request cannot be sent as given */
};
#define UP_NERRORS	6

struct up_request {
	const char		*method;
	const char		*target;	/* "/token/acme?x=y" */
	const char		*request_id;
	const char		*authorization;	/* NULL: not sent */
	const char		*content_type;
	const char		*accept;
	const unsigned char	*body;
	size_t			 bodylen;
};

struct up_response {
	unsigned int		 status;
	char			 content_type[256];
	char			 location[UP_VALUE_MAX];
	char			 retry_after[32];
	char			 allow[128];
	unsigned char		*body;		/* malloc'd; NULL if empty */
	size_t			 bodylen;
};

/* How the response is framed, from its head. */
struct up_framing {
	size_t			 headlen;	/* bytes up to the body */
	int			 has_length;
	uint64_t		 length;
	int			 close;		/* the connection ends after */
};

struct upstream;

/*
 * Asynchronous exchanges, for an event loop.  A struct upstream belongs
 * to one thread: its connections, the epoll set that watches them
 * (upstream_fd()) and the exchanges in flight, all without locks.
 *
 * upstream_start() takes a request and returns at once: UP_OK, and
 * done(arg, error, reused) is called later, exactly once, from
 * upstream_run() or upstream_free(), with resp filled in when error is
 * UP_OK; or an error (UP_EINVAL), and done is never called.  The
 * request's strings are copied; its body is not, and must stay until
 * done is called.  The loop calls upstream_run() when upstream_fd() is
 * readable (ready 1) and after it started exchanges (ready 0): it sends
 * what waits to be sent, reads what came, ends what timed out, and
 * returns the milliseconds until the next deadline (-1: none).
 *
 * At most maxconns connections are open; an exchange that finds none
 * free waits for one, its deadline running.
 */
typedef void	 up_done_fn(void *arg, enum up_error, int reused);

/* NULL if the path does not fit a sockaddr_un, or out of resources. */
struct upstream	*upstream_new(const char *path, unsigned int timeout_ms,
		    size_t maxconns);

/* One address of a broker over TCP. */
#define UP_ADDRS_MAX	8
struct up_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

/*
 * A broker over TCP and TLS, at any of its addresses: a connection goes
 * to the address the last one reached; when connecting there fails, the
 * next address is tried, until every one has been, for that exchange.
 */
struct up_tls {
	const struct up_addr	*addrs;
	size_t			 naddrs;	/* 1..UP_ADDRS_MAX */
	SSL_CTX			*ctx;	/* client context; a reference is taken */
	const char		*sni;	/* server name to send; NULL: none */
	const char		*label;	/* "host:port", for the log */
	/*
	 * The store a new connection verifies against (a reference, freed
	 * here); NULL, or a NULL answer: the context's.
	 */
	X509_STORE		*(*verify_store)(void *);
	void			*verify_arg;
};

/* The same, over TLS; NULL out of resources. */
struct upstream	*upstream_new_tls(const struct up_tls *,
		    unsigned int timeout_ms, size_t maxconns);
/* Ends every exchange still in flight with UP_EIO first. */
void		 upstream_free(struct upstream *);
int		 upstream_fd(const struct upstream *);
enum up_error	 upstream_start(struct upstream *, const struct up_request *,
		    struct up_response *, up_done_fn *, void *arg);
int		 upstream_run(struct upstream *, int ready);
/* Does upstream_run(u, 0) have exchanges to start? */
int		 upstream_pending(const struct upstream *);

/*
 * One exchange, waiting for it: the same machinery driven by poll(2),
 * for callers without a loop (and the tests).  On UP_OK, resp is filled
 * in; release it with up_clear.
 */
enum up_error	 upstream_do(struct upstream *, const struct up_request *,
		    struct up_response *, int *reused);

/* Wipes and frees the body, wipes the kept headers. */
void		 up_clear(struct up_response *);
/* An empty response (up_clear() of one never filled in). */
void		 up_init(struct up_response *);

/* "connect", "io", "timeout", "protocol", "request": for metrics. */
const char	*up_errname(enum up_error);

/*
 * Parse a response head (status line and headers): 1 when complete, with
 * resp and fr filled in; 0 when more bytes are needed; -1 when malformed
 * or over UP_HEAD_MAX.  Strict: CRLF line ends, no folding, one
 * Content-Length, no Transfer-Encoding.
 */
int		 up_parse_head(const char *buf, size_t len, int head_request,
		    struct up_response *resp, struct up_framing *fr);

#endif /* DROMOS_GATEWAY_UPSTREAM_H */
