/*
 * The broker's internal HTTP server (libmicrohttpd) on a unix socket.  The
 * gateway is its client; its paths are internal and may change (the public
 * contract is the gateway's /v1).
 */
#ifndef DROMOS_UNPRIV_HTTP_H
#define DROMOS_UNPRIV_HTTP_H

struct http_server;
struct khclient;

/*
 * Serve on listenfd (a listening socket, taken over and closed by
 * http_stop) with nthreads threads, asking kh for key operations.  Once
 * kh's channel has failed every request is answered 503.  NULL on failure
 * (logged).
 */
struct http_server	*http_start(int listenfd, struct khclient *kh,
			    unsigned int nthreads);

/* Stop accepting, finish the requests in progress, free everything. */
void			 http_stop(struct http_server *);

#endif /* DROMOS_UNPRIV_HTTP_H */
