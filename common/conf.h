/*
 * The configuration language shared by every Dromos daemon, in the manner
 * of pf.conf and httpd.conf: one statement per line, "#" comments, words
 * and double-quoted strings ("\"" and "\\" escapes, no newlines), numbers,
 * "{ }" blocks, macros (name = "value", then $name), and a "\" at the end
 * of a line to continue a statement on the next one.
 *
 * A grammar is a table of statements, one row each; the row's phrase is
 * the keywords that select it ("root key file").  conf_parse() reads every
 * statement, finds its row, refuses a second one where only one may be,
 * and calls the row's handler, which takes its arguments with the
 * conf_string/conf_path/conf_number/conf_word readers and ends with
 * conf_end().  Handlers that only store one value in a struct are
 * provided: conf_set_string, conf_set_path and conf_set_number.
 *
 * Parsing stops at the first error, which is formatted once as
 * "name:line: message" into the caller's buffer.  Messages never repeat
 * the content of a quoted string or a macro (they may hold a password);
 * they name words, keywords and numbers only.  Every buffer that held
 * input is zeroised before it is freed.
 */
#ifndef DROMOS_CONF_H
#define DROMOS_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_TOKEN_MAX	4096	/* bytes in one word or quoted string */
#define CONF_ARGS_MAX	64	/* tokens in one statement */
#define CONF_MACROS_MAX	256	/* distinct macro names */
#define CONF_DEPTH_MAX	8	/* nested { } blocks */

enum conf_toktype {
	CONF_WORD,		/* unquoted: keywords, numbers, bare values */
	CONF_STRING,		/* a quoted string or an expanded $macro */
	CONF_LBRACE,		/* "{": always the last token of its statement */
	CONF_RBRACE,		/* "}": always a statement of its own */
	CONF_EQUALS,		/* "=": only in a macro definition */
};

struct conf_tok {
	enum conf_toktype	 type;
	int			 line;
	char			*text;	/* NUL-terminated; NULL once taken */
	size_t			 len;
};

struct conf_stmt {
	struct conf_tok		 tok[CONF_ARGS_MAX];
	size_t			 ntok;
	size_t			 pos;	/* next token the readers look at */
	const char		*what;	/* context for messages: "listen" */
};

struct conf_macro;
struct conf_seen;

struct conf {
	const char		*name;	/* file name, for messages */
	const char		*buf;
	size_t			 len;
	size_t			 off;
	int			 line;
	int			 depth;
	int			 failed;
	struct conf_macro	*macros;
	size_t			 nmacros;
	struct conf_seen	*seen;	/* statements given once, by scope */
	size_t			 nseen;
	size_t			 seencap;
	size_t			 seenbase;
	char			*err;
	size_t			 errlen;
	char			 tokbuf[CONF_TOKEN_MAX + 1];
};

struct conf_keyword;
typedef int conf_handler(struct conf *, struct conf_stmt *,
    const struct conf_keyword *, void *base);

#define CONF_MULTI	0x01	/* the statement may be repeated */

struct conf_keyword {
	const char	*phrase;	/* keywords that select the row */
	const char	*group;		/* one of a group at most; NULL: phrase */
	unsigned int	 flags;
	conf_handler	*parse;
	/* For the conf_set_* handlers and any handler that wants them. */
	size_t		 off;		/* offset of the field in *base */
	uint64_t	 min, max;	/* conf_set_number range */
	const char	*unit;		/* optional word after a number */
};

void	 conf_init(struct conf *, const char *name, const char *buf,
	    size_t len, char *err, size_t errlen);
void	 conf_free(struct conf *);

/* Every statement until the end of input: 0, or -1 with the error set. */
int	 conf_parse(struct conf *, const struct conf_keyword *, size_t,
	    void *base);
/*
 * For a handler whose statement ends with "{": the statements up to the
 * matching "}", with their own table.  Duplicates are judged per block.
 */
int	 conf_block(struct conf *, struct conf_stmt *,
	    const struct conf_keyword *, size_t, void *base);

/* Lower level: the next statement (1), end of input (0) or an error (-1). */
int	 conf_next(struct conf *, struct conf_stmt *);
void	 conf_stmt_free(struct conf_stmt *);
/* Finds the statement's row, checks duplicates, runs the handler. */
int	 conf_dispatch(struct conf *, struct conf_stmt *,
	    const struct conf_keyword *, size_t, void *base);

/*
 * Records the first error as "name:line: ..." (line 0: "name: ...").
 * Always returns -1 so that handlers can "return conf_error(...)".
 */
int	 conf_error(struct conf *, int line, const char *fmt, ...)
	    __attribute__((__format__(__printf__, 3, 4)));

/* Readers; each returns 0, or -1 with an error that names stmt->what. */
int	 conf_more(const struct conf_stmt *);
/* Consumes the next token if it is this unquoted word; 1 if it did. */
int	 conf_word(struct conf_stmt *, const char *word);
/* A word or string; *out is the caller's (free it with conf_strfree). */
int	 conf_string(struct conf *, struct conf_stmt *, char **out);
int	 conf_path(struct conf *, struct conf_stmt *, char **out);
int	 conf_number(struct conf *, struct conf_stmt *, uint64_t min,
	    uint64_t max, uint64_t *out);
/* Nothing may follow. */
int	 conf_end(struct conf *, struct conf_stmt *);
/* The line of the token the readers would take next, or of the last one. */
int	 conf_line(const struct conf_stmt *);

/* Row handlers: store into the char * or uint64_t at base + kw->off. */
int	 conf_set_string(struct conf *, struct conf_stmt *,
	    const struct conf_keyword *, void *base);
int	 conf_set_path(struct conf *, struct conf_stmt *,
	    const struct conf_keyword *, void *base);
int	 conf_set_number(struct conf *, struct conf_stmt *,
	    const struct conf_keyword *, void *base);

/* Zeroises and frees *sp, then sets it to NULL. */
void	 conf_strfree(char **sp);
/* Frees *dst as conf_strfree does and stores s there. */
void	 conf_strset(char **dst, char *s);

/*
 * s as a quoted string that conf_string() reads back the same (for the
 * -n -v dumps): each '"' and backslash escaped.
 */
void	 conf_dump_str(FILE *, const char *s);

#endif /* DROMOS_CONF_H */
