/*
 * The JSON Schema subset that a provider's `credentials' is written in
 * (DESIGN §9), and validation of captured values against it.
 *
 * A schema document:
 *
 *	{"type": "object", "title": …, "description": …,
 *	 "additionalProperties": false,
 *	 "properties": {"NAME": PROPERTY, …},	(at most SCHEMA_MAX_PROPS)
 *	 "required": ["NAME", …]}		(optional; default [])
 *
 * NAME is [A-Za-z_][A-Za-z0-9_]{0,63}.  A PROPERTY has a "type" (string,
 * integer, number or boolean) and any of: title, description, secret
 * (bool), enum (non-empty, distinct values of the type; never with
 * secret), default (never with secret) and, for strings only, pattern,
 * format (uri, email, hostname, uuid, date-time), minLength, maxLength.
 * Any other keyword is an error: a misspelt keyword must not silently
 * weaken validation.
 *
 * Captured values are always held to additionalProperties: false, whether
 * or not the schema says so: a capture carries exactly what the form
 * asks for and nothing that could be smuggled in beside it.
 *
 * pattern is a POSIX extended regular expression (regcomp REG_EXTENDED),
 * matched as JSON Schema says: unanchored, so catalogue patterns are
 * written ^…$.  The broker runs in the C locale, so matching is by byte.
 * To keep one pattern meaning the same thing here, in the connect page's
 * browser (ECMA-262) and to a reader, schema_check accepts only the common
 * subset of the two dialects: ASCII, no backslash before a letter or
 * digit (\d is a "d" to POSIX), none inside a bracket expression, no
 * [:class:], no quantifier right after another (ECMA-262 reads *? as lazy,
 * POSIX as a repetition of a repetition), bounds of {m,n} <= 255, and no
 * more than SCHEMA_PATTERN_COST atoms once regcomp has expanded the
 * repetitions (it copies X once for X+ and n times for X{m,n}, so nested
 * repetitions multiply its time and memory).
 *
 * Patterns are compiled on each call: nothing is shared between the
 * broker's threads and captures are rare enough that the cost (tens of
 * microseconds) does not matter.
 *
 * Error reasons never contain a value: a value may be a secret.  Paths
 * are JSONPath: "$.properties.api_key.pattern", "$.required[2]"; a name
 * that is not an identifier is written $['like this'] in ASCII with
 * \uXXXX escapes (RFC 9535).
 */
#ifndef DROMOS_UNPRIV_SCHEMA_H
#define DROMOS_UNPRIV_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

#define SCHEMA_MAX_PROPS	64	/* properties in one schema */
#define SCHEMA_MAX_NAME		64	/* bytes in a property name */
#define SCHEMA_MAX_PATTERN	256	/* bytes in a pattern */
#define SCHEMA_MAX_REPEAT	255	/* bound of a {m,n} in a pattern */
#define SCHEMA_PATTERN_COST	1024	/* atoms of a pattern, expanded */
#define SCHEMA_MAX_LENGTH	8192	/* largest minLength/maxLength */
#define SCHEMA_MAX_ENUM		64	/* values in one enum */
#define SCHEMA_MAX_TITLE	128	/* code points in a title */
#define SCHEMA_MAX_DESCR	1024	/* code points in a description */
#define SCHEMA_MAX_ERRORS	16	/* errors one validation collects */

#define SCHEMA_PATH_MAX		160
#define SCHEMA_REASON_MAX	128

struct schema_error {
	char	path[SCHEMA_PATH_MAX];
	char	reason[SCHEMA_REASON_MAX];
};

struct schema_errors {
	size_t			n;
	int			truncated;	/* more than SCHEMA_MAX_ERRORS */
	struct schema_error	e[SCHEMA_MAX_ERRORS];
};

/*
 * Is schema a well-formed document of the subset?  0 if so; otherwise -1
 * with the path of the first error (rooted at "$", the schema itself) and
 * why.
 */
int	 schema_check(const json_t *schema, char *path, size_t pathsz,
	    char *reason, size_t reasonsz);

/*
 * Validate captured values (an object of NAME -> value) against a schema
 * that passed schema_check.  0 if valid; otherwise -1 with every error
 * (up to SCHEMA_MAX_ERRORS) in *errs, paths like "$.api_key".  A schema
 * that is not well formed gives one error at "$" rather than a crash.
 * Strings are measured in code points; a string holding a NUL, or longer
 * than SCHEMA_MAX_LENGTH whatever maxLength says, is refused.
 */
int	 schema_validate(const json_t *schema, const json_t *value,
	    struct schema_errors *errs);

/*
 * 1 if property name is marked secret, or is not a property of the schema
 * at all (fail closed: an unknown value is never shown); 0 otherwise.
 */
int	 schema_is_secret(const json_t *schema, const char *name);

/*
 * A new object holding those of values whose property is not secret: the
 * `metadata' of a connection view.  NULL only when out of memory.
 */
json_t	*schema_public_values(const json_t *schema, const json_t *values);

/* errs as the `errors' array of a problem document: [{"path","reason"}]. */
json_t	*schema_errors_json(const struct schema_errors *errs);

/*
 * 0 if s (len bytes) is an instance of format (one of the names above),
 * -1 if not or if the format is unknown.  Also used for URLs' hosts.
 */
int	 schema_format_ok(const char *format, const char *s, size_t len);

/*
 * Append a member (".name" or "['name']") or an index ("[3]") to the
 * JSONPath in path (always terminated; truncated with "..." when full).
 */
void	 schema_path_member(char *path, size_t pathsz, const char *name);
void	 schema_path_index(char *path, size_t pathsz, size_t idx);

/* 1 if s (len bytes) is a property name: [A-Za-z_][A-Za-z0-9_]{0,63}. */
int	 schema_name_ok(const char *s, size_t len);

/* Code points in a valid UTF-8 string of len bytes. */
size_t	 schema_utf8_len(const char *s, size_t len);

/*
 * Where a document checker is, and why it stopped: the JSON path of the
 * first error ("$.a.b[2]") and its reason, in the caller's buffers.
 * Shared by schema_check() and provider_check().
 */
struct jcheck {
	char	*path;
	size_t	 pathsz;
	char	*reason;
	size_t	 reasonsz;
};

/* Set the reason; always -1, so a checker can `return jcheck_fail(…)`. */
int	 jcheck_fail(struct jcheck *, const char *, ...)
	    __attribute__((__format__(__printf__, 2, 3)));
/* Descend into a member or an element; returns the mark to pop back to. */
size_t	 jcheck_push(struct jcheck *, const char *name);
size_t	 jcheck_push_index(struct jcheck *, size_t);
void	 jcheck_pop(struct jcheck *, size_t mark);

#endif /* DROMOS_UNPRIV_SCHEMA_H */
