/*
 * Unit tests for unpriv/provider.c: every rule of the provider-document
 * checker with the exact path it reports, the defaults it fills in, the
 * views, readiness, and the shipped catalogue (the etc/providers files).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/unpriv/tests.h"
#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define CATALOGUE	"etc/providers"
#define ID64		"abcdefghijklmnopqrstuvwxyz0123456789_-abcdefghijklmnopqrstuvwxyz"

static json_t *
load(const char *text)
{
	json_error_t	 err;
	json_t		*j;

	j = json_loads(text, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("bad test JSON at %d: %s: %s", err.position, err.text,
		    text);
	return j;
}

enum base { OAUTH, APIKEY, BEARER, BASIC, AWS, HEADERS, NONE };

static const char *const bases[] = {
	[OAUTH] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"oauth2\","
	    "\"authorization_url\":\"https://auth.example.com/authorize\","
	    "\"token_url\":\"https://auth.example.com/token\"}",
	[APIKEY] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"api_key\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{\"api_key\":{\"type\":\"string\",\"secret\":true},"
	    "\"team\":{\"type\":\"string\"},\"note\":{\"type\":\"string\"},"
	    "\"opt_secret\":{\"type\":\"string\",\"secret\":true}},"
	    "\"required\":[\"api_key\",\"team\"]},"
	    "\"apply\":{\"strategy\":\"api_key\",\"in\":\"header\","
	    "\"name\":\"X-Api-Key\",\"key\":\"{api_key}\"}}",
	[BEARER] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"bearer\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{\"token\":{\"type\":\"string\",\"secret\":true},"
	    "\"user\":{\"type\":\"string\"}},"
	    "\"required\":[\"token\",\"user\"]},"
	    "\"apply\":{\"strategy\":\"bearer\",\"token\":\"{token}\"}}",
	[BASIC] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"basic_auth\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{\"user\":{\"type\":\"string\"},"
	    "\"password\":{\"type\":\"string\",\"secret\":true}},"
	    "\"required\":[\"user\",\"password\"]},"
	    "\"apply\":{\"strategy\":\"basic_auth\",\"username\":\"{user}\","
	    "\"password\":\"{password}\"}}",
	[AWS] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"aws_sigv4\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{\"akid\":{\"type\":\"string\"},"
	    "\"secret\":{\"type\":\"string\",\"secret\":true},"
	    "\"token\":{\"type\":\"string\",\"secret\":true},"
	    "\"region\":{\"type\":\"string\"}},"
	    "\"required\":[\"akid\",\"secret\",\"region\"]},"
	    "\"apply\":{\"strategy\":\"aws_sigv4\",\"access_key_id\":\"{akid}\","
	    "\"secret_access_key\":\"{secret}\",\"session_token\":\"{token}\","
	    "\"region\":\"{region}\",\"service\":\"execute-api\"}}",
	[HEADERS] = "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"headers\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{\"team\":{\"type\":\"string\"},"
	    "\"key\":{\"type\":\"string\",\"secret\":true},"
	    "\"note\":{\"type\":\"string\"}},"
	    "\"required\":[\"team\",\"key\"]},"
	    "\"apply\":{\"strategy\":\"headers\",\"headers\":{"
	    "\"X-Team\":\"{team}\",\"X-Key\":\"{key}\"}}}",
};

/*
 * A case: a base document, an object merged into it recursively (NULL:
 * none), and a member to delete, as "a" or "a.b" (NULL: none).
 */
struct pcase {
	enum base	 base;
	const char	*merge;
	const char	*del;
	const char	*path;		/* NULL: the document is valid */
	const char	*reason;	/* a substring of the reason */
};

static json_t *
make_doc(const struct pcase *pc)
{
	json_t	*doc, *m, *parent;
	char	 buf[256], *dot;

	doc = load(bases[pc->base]);
	if (pc->merge != NULL) {
		/* "%s" in a merge stands for 64 bytes of id. */
		if ((dot = strstr(pc->merge, "%s")) != NULL) {
			snprintf(buf, sizeof(buf), "%.*s%s%s",
			    (int)(dot - pc->merge), pc->merge, ID64, dot + 2);
			m = load(buf);
		} else
			m = load(pc->merge);
		assert_int_equal(json_object_update_recursive(doc, m), 0);
		json_decref(m);
	}
	if (pc->del != NULL) {
		snprintf(buf, sizeof(buf), "%s", pc->del);
		parent = doc;
		if ((dot = strchr(buf, '.')) != NULL) {
			*dot = '\0';
			parent = json_object_get(doc, buf);
			memmove(buf, dot + 1, strlen(dot + 1) + 1);
		}
		assert_int_equal(json_object_del(parent, buf), 0);
	}
	return doc;
}

static const struct pcase pcases[] = {
	/* The bases themselves. */
	{ OAUTH, NULL, NULL, NULL, NULL },
	{ APIKEY, NULL, NULL, NULL, NULL },
	{ BEARER, NULL, NULL, NULL, NULL },
	{ BASIC, NULL, NULL, NULL, NULL },
	{ AWS, NULL, NULL, NULL, NULL },
	{ HEADERS, NULL, NULL, NULL, NULL },

	/* Every document. */
	{ OAUTH, NULL, "auth_mode", "$.auth_mode", "is required" },
	{ OAUTH, "{\"auth_mode\":\"saml\"}", NULL, "$.auth_mode", "one of" },
	{ OAUTH, "{\"auth_mode\":1}", NULL, "$.auth_mode", "one of" },
	{ OAUTH, "{\"foo\":1}", NULL, "$.foo", "not a field of a provider" },
	{ OAUTH, "{\"Id\":\"x\"}", NULL, "$.Id", "not a field" },
	{ OAUTH, "{\"credentials\":{}}", NULL, "$.credentials",
	    "not a field of auth_mode oauth2" },
	{ OAUTH, "{\"apply\":{}}", NULL, "$.apply",
	    "not a field of auth_mode oauth2" },
	{ APIKEY, "{\"token_url\":\"https://a.example/\"}", NULL,
	    "$.token_url", "not a field of auth_mode api_key" },
	{ APIKEY, "{\"client_secret\":\"x\"}", NULL, "$.client_secret",
	    "not a field of auth_mode api_key" },
	{ OAUTH, NULL, "id", "$.id", "is required" },
	{ OAUTH, "{\"id\":\"Acme\"}", NULL, "$.id", "[a-z0-9_-]" },
	{ OAUTH, "{\"id\":\"\"}", NULL, "$.id", "[a-z0-9_-]" },
	{ OAUTH, "{\"id\":\"a.b\"}", NULL, "$.id", "[a-z0-9_-]" },
	{ OAUTH, "{\"id\":\"%s\"}", NULL, NULL, NULL },	/* 64 bytes */
	{ OAUTH, "{\"id\":\"%sx\"}", NULL, "$.id", "[a-z0-9_-]" },
	{ OAUTH, "{\"id\":5}", NULL, "$.id", "[a-z0-9_-]" },
	{ OAUTH, "{\"id\":\"my_provider-2\"}", NULL, NULL, NULL },
	{ OAUTH, NULL, "display_name", "$.display_name", "is required" },
	{ OAUTH, "{\"display_name\":\"\"}", NULL, "$.display_name", "1 to 128" },
	{ OAUTH, "{\"display_name\":\"a\\nb\"}", NULL, "$.display_name",
	    "control" },
	{ OAUTH, "{\"display_name\":[]}", NULL, "$.display_name", "string" },
	{ OAUTH, "{\"display_name\":\"Caf\\u00e9 \\u2603\"}", NULL, NULL,
	    NULL },

	/* oauth2: URLs. */
	{ OAUTH, "{\"authorization_url\":\"http://auth.example.com/a\"}",
	    NULL, "$.authorization_url", "https://" },
	{ OAUTH, "{\"authorization_url\":\"ftp://auth.example.com/a\"}",
	    NULL, "$.authorization_url", "https://" },
	{ OAUTH, "{\"authorization_url\":\"HTTPS://auth.example.com/a\"}",
	    NULL, "$.authorization_url", "https://" },
	{ OAUTH, "{\"authorization_url\":\"/authorize\"}", NULL,
	    "$.authorization_url", "https://" },
	{ OAUTH, "{\"authorization_url\":7}", NULL, "$.authorization_url",
	    "string" },
	{ OAUTH, "{\"authorization_url\":\"https://u:p@auth.example.com/\"}",
	    NULL, "$.authorization_url", "user name" },
	{ OAUTH, "{\"authorization_url\":\"https://u@auth.example.com/\"}",
	    NULL, "$.authorization_url", "user name" },
	{ OAUTH, "{\"authorization_url\":\"https://auth.example.com/a#f\"}",
	    NULL, "$.authorization_url", "fragment" },
	{ OAUTH, "{\"authorization_url\":\"https:///a\"}", NULL,
	    "$.authorization_url", "no host" },
	{ OAUTH, "{\"authorization_url\":\"https://auth example.com/\"}",
	    NULL, "$.authorization_url", "not a valid URL" },
	{ OAUTH, "{\"authorization_url\":\"https://auth_x.example.com/\"}",
	    NULL, "$.authorization_url", "host name" },
	{ OAUTH, "{\"authorization_url\":\"https://a.example.com:0/\"}",
	    NULL, "$.authorization_url", "port" },
	{ OAUTH, "{\"authorization_url\":\"https://a.example.com:65536/\"}",
	    NULL, "$.authorization_url", "port" },
	{ OAUTH, "{\"authorization_url\":\"https://a.example.com:/\"}",
	    NULL, "$.authorization_url", "port" },
	{ OAUTH, "{\"authorization_url\":\"https://a.example.com:8x/\"}",
	    NULL, "$.authorization_url", "port" },
	{ OAUTH, "{\"authorization_url\":\"https://[::1/\"}", NULL,
	    "$.authorization_url", "IPv6" },
	{ OAUTH, "{\"authorization_url\":\"https://[fe80::1%25eth0]/\"}",
	    NULL, "$.authorization_url", "IPv6" },
	{ OAUTH, "{\"authorization_url\":\"https://[2001:db8::1]:8443/a\"}",
	    NULL, NULL, NULL },
	{ OAUTH, "{\"authorization_url\":\"https://a.example.com:8443/a?b=c"
	    "&d=%20\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"token_url\":\"http://127.0.0.1:8080/token\"}", NULL,
	    NULL, NULL },
	{ OAUTH, "{\"token_url\":\"http://127.9.9.9/token\"}", NULL, NULL,
	    NULL },
	{ OAUTH, "{\"token_url\":\"http://localhost:5000/token\"}", NULL,
	    NULL, NULL },
	{ OAUTH, "{\"token_url\":\"http://LocalHost/token\"}", NULL, NULL,
	    NULL },
	{ OAUTH, "{\"token_url\":\"http://[::1]:9/t\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"token_url\":\"http://128.0.0.1/token\"}", NULL,
	    "$.token_url", "loopback" },
	{ OAUTH, "{\"token_url\":\"http://127.example.com/token\"}", NULL,
	    "$.token_url", "loopback" },
	{ OAUTH, "{\"token_url\":\"http://localhost.example.com/t\"}", NULL,
	    "$.token_url", "loopback" },
	{ OAUTH, "{\"token_url\":\"http://[::2]/t\"}", NULL, "$.token_url",
	    "loopback" },
	{ OAUTH, "{\"revocation_url\":\"http://revoke.example.com/\"}", NULL,
	    "$.revocation_url", "https://" },
	{ OAUTH, "{\"revocation_url\":\"https://a.example.com/revoke\"}", NULL,
	    NULL, NULL },
	{ OAUTH, "{\"discovery_url\":\"https://a.example.com/.well-known/"
	    "openid-configuration\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"discovery_url\":\"https://a.example.com/#x\"}", NULL,
	    "$.discovery_url", "fragment" },
	{ OAUTH, "{\"issuer\":\"https://a.example.com\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"issuer\":\"https://a.example.com/?tenant=1\"}", NULL,
	    "$.issuer", "query" },
	{ OAUTH, NULL, "authorization_url", "$.authorization_url",
	    "unless issuer" },
	{ OAUTH, NULL, "token_url", "$.token_url", "unless issuer" },
	{ OAUTH, "{\"issuer\":\"https://a.example.com\"}", "token_url", NULL,
	    NULL },
	{ OAUTH, "{\"discovery_url\":\"https://a.example.com/d\"}",
	    "authorization_url", NULL, NULL },

	/* oauth2: the rest. */
	{ OAUTH, "{\"default_scopes\":\"openid\"}", NULL, "$.default_scopes",
	    "array" },
	{ OAUTH, "{\"default_scopes\":[\"a b\"]}", NULL,
	    "$.default_scopes[0]", "scope" },
	{ OAUTH, "{\"default_scopes\":[\"\"]}", NULL, "$.default_scopes[0]",
	    "scope" },
	{ OAUTH, "{\"default_scopes\":[\"a\",\"say\\\"hi\"]}", NULL,
	    "$.default_scopes[1]", "scope" },
	{ OAUTH, "{\"default_scopes\":[\"a\",7]}", NULL,
	    "$.default_scopes[1]", "scope" },
	{ OAUTH, "{\"default_scopes\":[\"a\",\"b\",\"a\"]}", NULL,
	    "$.default_scopes[2]", "repeats" },
	{ OAUTH, "{\"default_scopes\":[\"openid\",\"read:user\","
	    "\"https://www.googleapis.com/auth/drive\"]}", NULL, NULL, NULL },
	{ OAUTH, "{\"scope_separator\":\"\"}", NULL, "$.scope_separator",
	    "1 to 4" },
	{ OAUTH, "{\"scope_separator\":\",,,,,\"}", NULL, "$.scope_separator",
	    "1 to 4" },
	{ OAUTH, "{\"scope_separator\":\"\\t\"}", NULL, "$.scope_separator",
	    "1 to 4" },
	{ OAUTH, "{\"scope_separator\":\",\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"authorization_params\":{\"access_type\":\"offline\","
	    "\"prompt\":\"consent\"}}", NULL, NULL, NULL },
	{ OAUTH, "{\"authorization_params\":[]}", NULL,
	    "$.authorization_params", "object" },
	{ OAUTH, "{\"authorization_params\":{\"state\":\"x\"}}", NULL,
	    "$.authorization_params.state", "OAuth flow" },
	{ OAUTH, "{\"authorization_params\":{\"redirect_uri\":\"x\"}}", NULL,
	    "$.authorization_params.redirect_uri", "OAuth flow" },
	{ OAUTH, "{\"authorization_params\":{\"code_challenge_method\":"
	    "\"plain\"}}", NULL, "$.authorization_params.code_challenge_method",
	    "OAuth flow" },
	{ OAUTH, "{\"authorization_params\":{\"a b\":\"x\"}}", NULL,
	    "$.authorization_params['a b']", "parameter name" },
	{ OAUTH, "{\"authorization_params\":{\"x\":1}}", NULL,
	    "$.authorization_params.x", "string" },
	{ OAUTH, "{\"authorization_params\":{\"x\":\"a\\r\\nb\"}}", NULL,
	    "$.authorization_params.x", "control" },
	{ OAUTH, "{\"token_params\":{\"audience\":\"https://api.example\"}}",
	    NULL, NULL, NULL },
	{ OAUTH, "{\"token_params\":{\"code_verifier\":\"x\"}}", NULL,
	    "$.token_params.code_verifier", "OAuth flow" },
	{ OAUTH, "{\"token_params\":{\"grant_type\":\"password\"}}", NULL,
	    "$.token_params.grant_type", "OAuth flow" },
	{ OAUTH, "{\"token_auth\":\"private_key_jwt\"}", NULL, "$.token_auth",
	    "one of" },
	{ OAUTH, "{\"token_auth\":\"client_secret_post\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"token_auth\":\"none\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"pkce\":\"plain\"}", NULL, "$.pkce", "S256" },
	{ OAUTH, "{\"pkce\":false}", NULL, "$.pkce", "S256" },
	{ OAUTH, "{\"pkce\":\"S256\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"client_id\":\"\"}", NULL, "$.client_id", "1 to 256" },
	{ OAUTH, "{\"client_id\":\"a\\tb\"}", NULL, "$.client_id", "1 to 256" },
	{ OAUTH, "{\"client_id\":12}", NULL, "$.client_id", "1 to 256" },
	{ OAUTH, "{\"client_id\":\"Iv1.abc def\"}", NULL, NULL, NULL },
	{ OAUTH, "{\"client_secret\":5}", NULL, "$.client_secret", "1 to 1024" },
	{ OAUTH, "{\"client_secret\":\"s3cr\\u00e9t\"}", NULL,
	    "$.client_secret", "printable ASCII" },
	{ OAUTH, "{\"client_secret\":\"s\",\"token_auth\":\"none\"}", NULL,
	    "$.client_secret", "token_auth" },
	{ OAUTH, "{\"token_expiration_buffer\":-1}", NULL,
	    "$.token_expiration_buffer", "0 to 86400" },
	{ OAUTH, "{\"token_expiration_buffer\":86401}", NULL,
	    "$.token_expiration_buffer", "0 to 86400" },
	{ OAUTH, "{\"token_expiration_buffer\":\"300\"}", NULL,
	    "$.token_expiration_buffer", "0 to 86400" },
	{ OAUTH, "{\"token_expiration_buffer\":30.0}", NULL,
	    "$.token_expiration_buffer", "0 to 86400" },
	{ OAUTH, "{\"token_expiration_buffer\":0}", NULL, NULL, NULL },

	/* Captured modes: credentials and apply. */
	{ APIKEY, NULL, "credentials", "$.credentials", "is required" },
	{ APIKEY, NULL, "apply", "$.apply", "is required" },
	{ APIKEY, "{\"credentials\":[]}", NULL, "$.credentials", "object" },
	{ APIKEY, "{\"credentials\":{\"properties\":{\"api_key\":"
	    "{\"patern\":\"x\"}}}}", NULL,
	    "$.credentials.properties.api_key.patern", "not a keyword" },
	{ APIKEY, "{\"credentials\":{\"required\":[\"api_key\",\"nope\"]}}",
	    NULL, "$.credentials.required[1]", "names no" },
	{ APIKEY, "{\"apply\":[]}", NULL, "$.apply", "object" },
	{ APIKEY, NULL, "apply.strategy", "$.apply.strategy", "is required" },
	{ APIKEY, "{\"apply\":{\"strategy\":\"bearer\"}}", NULL,
	    "$.apply.strategy", "\"api_key\"" },
	{ APIKEY, "{\"apply\":{\"strategy\":\"oauth2\"}}", NULL,
	    "$.apply.strategy", "\"api_key\"" },
	{ APIKEY, "{\"apply\":{\"token\":\"{api_key}\"}}", NULL,
	    "$.apply.token", "not a field of strategy api_key" },
	{ APIKEY, NULL, "apply.key", "$.apply.key", "is required" },
	{ APIKEY, NULL, "apply.in", "$.apply.in", "is required" },
	{ APIKEY, NULL, "apply.name", "$.apply.name", "is required" },
	{ APIKEY, "{\"apply\":{\"key\":\"{nope}\"}}", NULL, "$.apply.key",
	    "not a property" },
	{ APIKEY, "{\"apply\":{\"key\":\"{opt_secret}\"}}", NULL,
	    "$.apply.key", "does not require" },
	{ APIKEY, "{\"apply\":{\"key\":\"{team}\"}}", NULL, "$.apply.key",
	    "not a secret" },
	{ APIKEY, "{\"apply\":{\"key\":\"{api_key}{team}\"}}", NULL,
	    "$.apply.key", "not a secret" },
	{ APIKEY, "{\"apply\":{\"key\":\"hardcoded\"}}", NULL, "$.apply.key",
	    "must name a secret" },
	{ APIKEY, "{\"apply\":{\"key\":\"{{api_key}}\"}}", NULL, "$.apply.key",
	    "must name a secret" },
	{ APIKEY, "{\"apply\":{\"key\":\"{api_key\"}}", NULL, "$.apply.key",
	    "without a }" },
	{ APIKEY, "{\"apply\":{\"key\":\"{api_key}}\"}}", NULL, "$.apply.key",
	    "without a {" },
	{ APIKEY, "{\"apply\":{\"key\":\"{a{pi_key}\"}}", NULL, "$.apply.key",
	    "without a }" },
	{ APIKEY, "{\"apply\":{\"key\":\"{}\"}}", NULL, "$.apply.key",
	    "property name" },
	{ APIKEY, "{\"apply\":{\"key\":\"{api-key}\"}}", NULL, "$.apply.key",
	    "property name" },
	{ APIKEY, "{\"apply\":{\"key\":\"\"}}", NULL, "$.apply.key", "1 to" },
	{ APIKEY, "{\"apply\":{\"key\":5}}", NULL, "$.apply.key", "1 to" },
	{ APIKEY, "{\"apply\":{\"key\":\"{api_key}\\n\"}}", NULL,
	    "$.apply.key", "control" },
	{ APIKEY, "{\"apply\":{\"key\":\"{{{api_key}}}\"}}", NULL, NULL,
	    NULL },
	{ APIKEY, "{\"apply\":{\"in\":\"body\"}}", NULL, "$.apply.in",
	    "\"header\" or \"query\"" },
	{ APIKEY, "{\"apply\":{\"in\":[\"header\"]}}", NULL, "$.apply.in",
	    "string" },
	{ APIKEY, "{\"apply\":{\"name\":\"X Api\"}}", NULL, "$.apply.name",
	    "header name" },
	{ APIKEY, "{\"apply\":{\"name\":\"\"}}", NULL, "$.apply.name",
	    "header name" },
	{ APIKEY, "{\"apply\":{\"name\":\"{api_key}\"}}", NULL, "$.apply.name",
	    "header name" },
	{ APIKEY, "{\"apply\":{\"name\":\"Host\"}}", NULL, "$.apply.name",
	    "may not set" },
	{ APIKEY, "{\"apply\":{\"name\":\"transfer-ENCODING\"}}", NULL,
	    "$.apply.name", "may not set" },
	{ APIKEY, "{\"apply\":{\"name\":\"Authorization\","
	    "\"prefix\":\"Bearer \"}}", NULL, NULL, NULL },
	{ APIKEY, "{\"apply\":{\"in\":\"query\",\"name\":\"api_key\"}}", NULL,
	    NULL, NULL },
	{ APIKEY, "{\"apply\":{\"in\":\"query\",\"name\":\"api key\"}}", NULL,
	    "$.apply.name", "query parameter" },
	{ APIKEY, "{\"apply\":{\"in\":\"query\",\"name\":\"a&b\"}}", NULL,
	    "$.apply.name", "query parameter" },
	{ APIKEY, "{\"apply\":{\"prefix\":\"Bearer\\r\\n\"}}", NULL,
	    "$.apply.prefix", "control" },
	{ APIKEY, "{\"apply\":{\"prefix\":\"{nope} \"}}", NULL,
	    "$.apply.prefix", "not a property" },
	/* An optional field may name an optional, non-secret property. */
	{ APIKEY, "{\"apply\":{\"prefix\":\"{note} \"}}", NULL, NULL, NULL },

	{ BEARER, "{\"apply\":{\"token\":\"{user}\"}}", NULL, "$.apply.token",
	    "not a secret" },
	{ BEARER, NULL, "apply.token", "$.apply.token", "is required" },
	{ BEARER, "{\"apply\":{\"strategy\":\"api_key\"}}", NULL,
	    "$.apply.strategy", "\"bearer\"" },
	{ BEARER, "{\"apply\":{\"prefix\":\"x\"}}", NULL, "$.apply.prefix",
	    "not a field of strategy bearer" },

	{ BASIC, "{\"apply\":{\"password\":\"{user}\"}}", NULL,
	    "$.apply.password", "not a secret" },
	{ BASIC, "{\"apply\":{\"username\":\"{password}\"}}", NULL, NULL,
	    NULL },
	{ BASIC, "{\"apply\":{\"username\":\"admin\"}}", NULL, NULL, NULL },
	{ BASIC, NULL, "apply.username", "$.apply.username", "is required" },
	{ BASIC, "{\"apply\":{\"strategy\":\"bearer\"}}", NULL,
	    "$.apply.strategy", "\"basic_auth\"" },

	{ AWS, "{\"apply\":{\"session_token\":\"{region}\"}}", NULL,
	    "$.apply.session_token", "not a secret" },
	{ AWS, "{\"apply\":{\"secret_access_key\":\"{token}\"}}", NULL,
	    "$.apply.secret_access_key", "does not require" },
	{ AWS, NULL, "apply.region", "$.apply.region", "is required" },
	{ AWS, NULL, "apply.service", "$.apply.service", "is required" },
	{ AWS, NULL, "apply.session_token", NULL, NULL },
	{ AWS, "{\"apply\":{\"service\":\"{nope}\"}}", NULL, "$.apply.service",
	    "not a property" },
	{ AWS, "{\"apply\":{\"strategy\":\"headers\"}}", NULL,
	    "$.apply.strategy", "\"aws_sigv4\"" },

	{ HEADERS, "{\"apply\":{\"headers\":[]}}", NULL, "$.apply.headers",
	    "1 to 32" },
	{ HEADERS, NULL, "apply.headers", "$.apply.headers", "is required" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"Bad Name\":\"{team}\"}}}", NULL,
	    "$.apply.headers['Bad Name']", "header name" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"Connection\":\"{team}\"}}}",
	    NULL, "$.apply.headers.Connection", "may not set" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"Content-Length\":\"{team}\"}}}",
	    NULL, "$.apply.headers['Content-Length']", "may not set" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"x-team\":\"{team}\"}}}", NULL,
	    "$.apply.headers['x-team']", "repeats" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"X-Note\":\"{note}\"}}}", NULL,
	    "$.apply.headers['X-Note']", "does not require" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"X-N\":\"{nope}\"}}}", NULL,
	    "$.apply.headers['X-N']", "not a property" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"X-N\":7}}}", NULL,
	    "$.apply.headers['X-N']", "string" },
	{ HEADERS, "{\"apply\":{\"headers\":{\"X-Static\":\"v1\"}}}", NULL,
	    NULL, NULL },
	{ HEADERS, "{\"apply\":{\"headers\":{\"X-Static\":\"v1}\"}}}", NULL,
	    "$.apply.headers['X-Static']", "without a {" },
	{ HEADERS, "{\"apply\":{\"strategy\":\"api_key\"}}", NULL,
	    "$.apply.strategy", "\"headers\"" },
};

static void
test_provider_rules(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*doc, *norm;
	size_t	 i;
	int	 rc;

	(void)state;
	for (i = 0; i < NELEM(pcases); i++) {
		doc = make_doc(&pcases[i]);
		rc = provider_check(doc, &norm, path, sizeof(path), reason,
		    sizeof(reason));
		if (pcases[i].path == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s: %s", i, path,
				    reason);
			assert_non_null(norm);
			json_decref(norm);
		} else {
			if (rc == 0)
				fail_msg("case %zu accepted, want %s", i,
				    pcases[i].path);
			assert_null(norm);
			if (strcmp(path, pcases[i].path) != 0 ||
			    strstr(reason, pcases[i].reason) == NULL)
				fail_msg("case %zu: got %s \"%s\", want %s "
				    "\"...%s...\"", i, path, reason,
				    pcases[i].path, pcases[i].reason);
		}
		json_decref(doc);
	}
}

static void
test_provider_shapes(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	char	 longurl[PROVIDER_URL_MAX + 32];
	json_t	*doc;
	size_t	 n;

	(void)state;
	doc = load("[]");
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$");
	json_decref(doc);
	doc = load("{}");
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.auth_mode");
	assert_int_equal(provider_check(doc, NULL, NULL, 0, NULL, 0), -1);
	json_decref(doc);

	/* URLs: 2048 bytes are fine, 2049 are not. */
	doc = load(bases[OAUTH]);
	n = (size_t)snprintf(longurl, sizeof(longurl), "https://a.example/");
	memset(longurl + n, 'x', PROVIDER_URL_MAX - n);
	longurl[PROVIDER_URL_MAX] = '\0';
	json_object_set_new(doc, "token_url", json_string(longurl));
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	longurl[PROVIDER_URL_MAX] = 'x';
	longurl[PROVIDER_URL_MAX + 1] = '\0';
	json_object_set_new(doc, "token_url", json_string(longurl));
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.token_url");

	/* A URL with a NUL inside is no URL. */
	json_object_set_new(doc, "token_url",
	    json_stringn("https://a.example/\0x", 20));
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.token_url");
	json_decref(doc);

	/* A reason never quotes the document's values. */
	doc = load(bases[OAUTH]);
	json_object_set_new(doc, "client_secret",
	    json_string("hunter2\x01"));
	assert_int_equal(provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.client_secret");
	assert_null(strstr(reason, "hunter2"));
	json_decref(doc);
}

static void
test_normalize(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*doc, *norm, *want;

	(void)state;
	doc = load(bases[OAUTH]);
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	want = load("{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"oauth2\","
	    "\"authorization_url\":\"https://auth.example.com/authorize\","
	    "\"token_url\":\"https://auth.example.com/token\","
	    "\"default_scopes\":[],\"scope_separator\":\" \","
	    "\"token_auth\":\"client_secret_basic\",\"pkce\":\"S256\","
	    "\"token_expiration_buffer\":300}");
	assert_true(json_equal(norm, want));
	/* The input is not touched. */
	assert_null(json_object_get(doc, "pkce"));
	json_decref(want);
	json_decref(norm);
	json_decref(doc);

	/* Given values stay. */
	doc = load(bases[OAUTH]);
	json_object_set_new(doc, "scope_separator", json_string(","));
	json_object_set_new(doc, "token_expiration_buffer", json_integer(0));
	json_object_set_new(doc, "client_secret", json_string("s3cret"));
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(norm,
	    "scope_separator")), ",");
	assert_int_equal(json_integer_value(json_object_get(norm,
	    "token_expiration_buffer")), 0);
	assert_string_equal(json_string_value(json_object_get(norm,
	    "client_secret")), "s3cret");
	json_decref(norm);
	json_decref(doc);

	/*
	 * Captured: without "required" no property is, so no required
	 * field of apply can name one.
	 */
	doc = load(bases[APIKEY]);
	json_object_del(json_object_get(doc, "credentials"), "required");
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.apply.key");
	assert_non_null(strstr(reason, "does not require"));
	json_decref(doc);

	doc = load(bases[BEARER]);
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	assert_true(json_equal(doc, norm));
	json_decref(norm);
	json_decref(doc);

	/* basic_auth's password must name a required property. */
	doc = load("{\"id\":\"x\",\"display_name\":\"X\","
	    "\"auth_mode\":\"basic_auth\",\"credentials\":{\"type\":"
	    "\"object\",\"properties\":{\"pw\":{\"type\":\"string\","
	    "\"secret\":true}}},\"apply\":{\"strategy\":\"basic_auth\","
	    "\"username\":\"admin\",\"password\":\"{pw}\"}}");
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.apply.password");
	json_object_set_new(json_object_get(doc, "credentials"), "required",
	    load("[\"pw\"]"));
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	assert_true(json_equal(doc, norm));
	json_decref(norm);
	json_decref(doc);

	/* Static headers need no property: "required" defaults to []. */
	doc = load(bases[HEADERS]);
	json_object_del(json_object_get(doc, "credentials"), "required");
	json_object_set_new(json_object_get(doc, "apply"), "headers",
	    load("{\"X-Static\":\"v1\"}"));
	assert_int_equal(provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	want = load("[]");
	assert_true(json_equal(json_object_get(json_object_get(norm,
	    "credentials"), "required"), want));
	assert_null(json_object_get(json_object_get(doc, "credentials"),
	    "required"));
	json_decref(want);
	json_decref(norm);
	json_decref(doc);
}

static void
test_views(void **state)
{
	json_t	*doc, *v, *want;
	char	 reason[64];

	(void)state;
	doc = load(bases[OAUTH]);
	json_object_set_new(doc, "client_id", json_string("cid"));
	json_object_set_new(doc, "client_secret", json_string("s3cret"));
	json_object_set_new(doc, "default_scopes", load("[\"openid\"]"));

	v = provider_public_view(doc);
	want = load("{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"oauth2\",\"default_scopes\":[\"openid\"]}");
	assert_true(json_equal(v, want));
	json_decref(want);
	json_decref(v);

	v = provider_admin_view(doc, 0);
	assert_null(json_object_get(v, "client_secret"));
	assert_true(json_is_true(json_object_get(v, "has_client_secret")));
	assert_string_equal(json_string_value(json_object_get(v,
	    "client_id")), "cid");
	assert_string_equal(json_string_value(json_object_get(v,
	    "token_url")), "https://auth.example.com/token");
	json_decref(v);
	/* The caller's document keeps its secret. */
	assert_non_null(json_object_get(doc, "client_secret"));

	json_object_del(doc, "client_secret");
	v = provider_admin_view(doc, 0);
	assert_true(json_is_false(json_object_get(v, "has_client_secret")));
	json_decref(v);
	v = provider_admin_view(doc, 1);
	assert_true(json_is_true(json_object_get(v, "has_client_secret")));
	json_decref(v);

	/* Readiness. */
	assert_int_equal(provider_ready(doc, 1, reason, sizeof(reason)), 1);
	assert_int_equal(provider_ready(doc, 0, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "client_secret is not set");
	json_object_set_new(doc, "token_auth", json_string("none"));
	assert_int_equal(provider_ready(doc, 0, reason, sizeof(reason)), 1);
	json_object_del(doc, "client_id");
	assert_int_equal(provider_ready(doc, 1, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "client_id is not set");
	json_decref(doc);

	doc = load(bases[APIKEY]);
	v = provider_public_view(doc);
	assert_true(json_equal(json_object_get(v, "credentials"),
	    json_object_get(doc, "credentials")));
	assert_null(json_object_get(v, "apply"));
	assert_int_equal(json_object_size(v), 4);
	json_decref(v);
	assert_int_equal(provider_ready(doc, 0, reason, sizeof(reason)), 1);
	json_decref(doc);

	assert_int_equal(provider_id_ok("github"), 1);
	assert_int_equal(provider_id_ok("GitHub"), 0);
	assert_int_equal(provider_id_ok(NULL), 0);
}

/*
 * The catalogue: each file is a valid provider whose id is its file name;
 * the captured ones accept a realistic capture and turn it into a payload.
 */
struct sample {
	const char	*id;
	const char	*values;	/* NULL: oauth2 */
	const char	*credentials;	/* the payload's, expected */
};

static const struct sample samples[] = {
	{ "github", NULL, NULL },
	{ "google", NULL, NULL },
	{ "openai", "{\"api_key\":\"sk-proj-abcdefghijklmnopqrstuvwx\"}",
	    "{\"key\":\"sk-proj-abcdefghijklmnopqrstuvwx\",\"in\":\"header\","
	    "\"name\":\"Authorization\",\"prefix\":\"Bearer \"}" },
	{ "stripe", "{\"secret_key\":\"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"}",
	    "{\"token\":\"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"}" },
	{ "jira", "{\"site\":\"acme.atlassian.net\",\"email\":"
	    "\"ops@acme.example\",\"api_token\":\"ATATT3xFfGF0abcdefghij\"}",
	    "{\"username\":\"ops@acme.example\",\"password\":"
	    "\"ATATT3xFfGF0abcdefghij\"}" },
	{ "aws", "{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\","
	    "\"secret_access_key\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\","
	    "\"region\":\"eu-west-2\",\"service\":\"s3\"}",
	    "{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
	    "\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\"region\":"
	    "\"eu-west-2\",\"service\":\"s3\"}" },
};

static void
check_sample(const struct sample *s, const json_t *doc)
{
	struct schema_errors	 errs;
	json_t			*values, *payload, *want;
	char			 reason[SCHEMA_REASON_MAX];
	const json_t		*creds;

	creds = json_object_get(doc, "credentials");
	if (s->values == NULL) {
		assert_null(creds);
		assert_non_null(json_object_get(doc, "token_url"));
		assert_null(json_object_get(doc, "client_secret"));
		return;
	}
	values = load(s->values);
	if (schema_validate(creds, values, &errs) != 0)
		fail_msg("%s: sample refused: %s %s", s->id, errs.e[0].path,
		    errs.e[0].reason);
	if (payload_build(doc, "acme-1", values, NULL, &payload, reason,
	    sizeof(reason)) != 0)
		fail_msg("%s: no payload: %s", s->id, reason);
	want = load(s->credentials);
	assert_true(json_equal(json_object_get(payload, "credentials"), want));
	json_decref(want);
	json_decref(payload);
	json_decref(values);
}

static void
test_catalogue(void **state)
{
	char		 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	char		 file[512], id[128];
	struct dirent	*de;
	json_error_t	 jerr;
	json_t		*doc;
	DIR		*d;
	size_t		 i, len, n = 0, seen = 0;

	(void)state;
	assert_non_null(d = opendir(CATALOGUE));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(file, sizeof(file), CATALOGUE "/%s", de->d_name);
		snprintf(id, sizeof(id), "%.*s", (int)(len - 5), de->d_name);
		if ((doc = json_load_file(file, JSON_REJECT_DUPLICATES,
		    &jerr)) == NULL)
			fail_msg("%s: %s", file, jerr.text);
		if (provider_check(doc, NULL, path, sizeof(path), reason,
		    sizeof(reason)) != 0)
			fail_msg("%s: %s: %s", file, path, reason);
		assert_string_equal(json_string_value(json_object_get(doc,
		    "id")), id);
		for (i = 0; i < NELEM(samples); i++)
			if (strcmp(samples[i].id, id) == 0) {
				check_sample(&samples[i], doc);
				seen++;
			}
		json_decref(doc);
		n++;
	}
	closedir(d);
	assert_true(n >= NELEM(samples));
	assert_int_equal(seen, NELEM(samples));
}

/* The catalogue's patterns refuse what they should. */
static void
test_catalogue_patterns(void **state)
{
	static const struct {
		const char	*file, *values, *path;
	} bad[] = {
		{ "openai", "{\"api_key\":\"sk-short\"}", "$.api_key" },
		{ "openai", "{\"api_key\":\"pk-abcdefghijklmnopqrstuvwx\"}",
		    "$.api_key" },
		{ "stripe", "{\"secret_key\":\"pk_live_abcdefghijkl\"}",
		    "$.secret_key" },
		{ "jira", "{\"site\":\"evil.example.com\",\"email\":"
		    "\"a@b.example\",\"api_token\":\"abcdefghijklmnop\"}",
		    "$.site" },
		{ "aws", "{\"access_key_id\":\"AKIAshort\","
		    "\"secret_access_key\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEX"
		    "AMPLEKEY\",\"region\":\"eu-west-2\",\"service\":\"s3\"}",
		    "$.access_key_id" },
		{ "aws", "{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\","
		    "\"secret_access_key\":\"tooshort\",\"region\":"
		    "\"eu-west-2\",\"service\":\"s3\"}",
		    "$.secret_access_key" },
		{ "aws", "{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\","
		    "\"secret_access_key\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEX"
		    "AMPLEKEY\",\"region\":\"mars\",\"service\":\"s3\"}",
		    "$.region" },
	};
	struct schema_errors	 errs;
	char			 file[256];
	json_t			*doc, *v;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(file, sizeof(file), CATALOGUE "/%s.json", bad[i].file);
		assert_non_null(doc = json_load_file(file, 0, NULL));
		v = load(bad[i].values);
		assert_int_equal(schema_validate(json_object_get(doc,
		    "credentials"), v, &errs), -1);
		assert_int_equal(errs.n, 1);
		assert_string_equal(errs.e[0].path, bad[i].path);
		json_decref(v);
		json_decref(doc);
	}
}

int
run_provider_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_provider_rules),
		cmocka_unit_test(test_provider_shapes),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_catalogue_patterns),
	};

	return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
