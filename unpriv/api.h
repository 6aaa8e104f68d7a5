/* The route tables of the broker's two HTTP servers. */
#ifndef DROMOS_UNPRIV_API_H
#define DROMOS_UNPRIV_API_H

#include <stddef.h>

#include <microhttpd.h>

#include "unpriv/http.h"

extern const struct http_route	 api_routes[];		/* api.c */
extern const size_t		 api_nroutes;
extern const struct http_route	 admin_routes[];	/* admin.c */
extern const size_t		 admin_nroutes;

/* 422 naming one field. */
enum MHD_Result	 api_invalid(struct http_req *, const char *path,
		    const char *reason);

/* GET /token/{c} and the forced refresh: the credential payload. */
enum MHD_Result	 api_token(struct http_req *, const char *id, int force);

/* An owner: 1-128 printable characters. */
int		 api_owner_ok(const char *);

/* Answers for a store.h or vault.h error. */
enum MHD_Result	 api_store_error(struct http_req *, int, const char *what);
enum MHD_Result	 api_vault_error(struct http_req *, int);

#endif /* DROMOS_UNPRIV_API_H */
