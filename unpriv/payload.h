/*
 * The generic credential payload (DESIGN §8): a provider's `apply' with
 * the captured values filled in, or an OAuth access token, in the one
 * shape the Bridge reads:
 *
 *	{"connection": "acme-openai", "provider": "openai",
 *	 "strategy": "api_key", "expires_at": null,
 *	 "credentials": {"key": "sk-…", "in": "header",
 *	                 "name": "Authorization", "prefix": "Bearer "}}
 *
 * `credentials' holds exactly the apply fields (minus `strategy') with
 * every template filled; for `headers' that is {"headers": {NAME: value}}.
 *
 * Templates: in a template field of `apply', {name} stands for the value
 * of captured property name ([A-Za-z_][A-Za-z0-9_]{0,63}); {{ and }} are a
 * literal { and }; any other brace is an error.
 */
#ifndef DROMOS_UNPRIV_PAYLOAD_H
#define DROMOS_UNPRIV_PAYLOAD_H

#include <stddef.h>

#include <jansson.h>

#define PAYLOAD_TEMPLATE_MAX	1024	/* bytes in one template */
#define PAYLOAD_VALUE_MAX	8192	/* bytes in one filled field */

/* What a field of a strategy is (flags of struct payload_field). */
#define PF_REQUIRED	0x01	/* the strategy cannot work without it */
#define PF_TEMPLATE	0x02	/* a template over the captured values */
#define PF_SECRET	0x04	/* carries a secret: refers only to secret
				   properties, and to at least one */
#define PF_MAP		0x08	/* an object of header name -> template */

struct payload_field {
	const char	*name;
	unsigned int	 flags;
};

struct payload_strategy {
	const char			*name;
	const struct payload_field	*fields;	/* NULL name ends it */
};

/*
 * The strategies `apply' may name (bearer, basic_auth, api_key,
 * aws_sigv4, headers) and their fields; NULL for any other name.  The
 * provider checker and the builder both read this one table.
 */
const struct payload_strategy	*payload_strategy(const char *name);

/* Scanning a template: pieces of literal text and references. */
enum tmpl_piece {
	TMPL_END = 0,
	TMPL_TEXT,		/* literal bytes */
	TMPL_REF,		/* the name of a captured property */
	TMPL_ERROR,		/* malformed; tmpl.why says how */
};

struct tmpl {
	const char	*s;
	size_t		 len;
	size_t		 pos;
	const char	*why;
};

void		 tmpl_init(struct tmpl *, const char *s, size_t len);
enum tmpl_piece	 tmpl_next(struct tmpl *, const char **piece, size_t *n);

/* 1 if s is a connection id: 1-128 of [A-Za-z0-9._-] (DESIGN §7). */
int	 payload_connection_ok(const char *s);

/*
 * Build the payload of connection for provider (a document that passed
 * provider_check).  Captured modes: values is the object of every
 * captured value, secret or not (strings, numbers, booleans).  oauth2:
 * values holds access_token and optionally token_type ("Bearer" if
 * absent; "bearer" in any case becomes "Bearer").  expires_at is an RFC
 * 3339 time or NULL (null in the payload).
 *
 * An optional field (api_key's prefix, aws_sigv4's session_token) whose
 * template names an absent value is left out; any other field naming an
 * absent value is an error: never a half-filled credential.  A filled
 * field holding a control character is an error (every field ends up in
 * an HTTP header, a query or a signature).
 *
 * 0 and a new object in *out, or -1 with *out NULL and a reason that
 * names fields and properties, never values.
 *
 * The values are secrets.  Each field is assembled in a buffer that is
 * wiped before it is freed; jansson then holds its own copy (json_stringn
 * copies), which only a wiping allocator clears: the broker installs one
 * (common/jsonmem.h) before it parses anything.  json_decref *out
 * promptly.
 */
int	 payload_build(const json_t *provider, const char *connection,
	    const json_t *values, const char *expires_at, json_t **out,
	    char *reason, size_t reasonsz);

#endif /* DROMOS_UNPRIV_PAYLOAD_H */
