/*
 * Connect sessions: short-lived tokens (drs_ and 43 base64url characters)
 * that let an end user's browser capture credentials or start consent for
 * the providers, owner and connection a client chose.  Only the token's
 * SHA-256 is stored.
 */
#ifndef DROMOS_UNPRIV_SESSION_H
#define DROMOS_UNPRIV_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#define SESSION_TOKEN_LEN	(4 + 43)
#define SESSION_ID_LEN		16
#define SESSION_HASH_LEN	32

struct http_req;

int	 session_token_new(char *token, size_t sz, char id[SESSION_ID_LEN + 1],
	    uint8_t hash[SESSION_HASH_LEN]);

/* The session a token names, or -1 after answering 401. */
int	 session_lookup(struct http_req *, const char *token, json_t **session,
	    enum MHD_Result *answered);

/* A drs_ bearer token in the request, or NULL. */
const char *session_bearer(struct http_req *);

int	 session_allows_provider(const json_t *session, const char *provider);

/* Is url an allowed place to send the browser back to? */
int	 session_return_url_ok(const json_t *provider, const char *public_url,
	    const char *returns, const char *url);

/* POST /connect/sessions */
enum MHD_Result	 route_session_new(struct http_req *);

#endif /* DROMOS_UNPRIV_SESSION_H */
