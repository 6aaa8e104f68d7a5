/*
 * The paths the sandboxed broker may read (fsview.h).  The list is made
 * once, just before the Landlock ruleset, from the settings dromosd sent.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "unpriv/fsview.h"

static const char *const fixed[] = {
	"/etc",
	"/usr/lib",
	"/lib",
	"/usr/share/ca-certificates",
	"/usr/local/share/ca-certificates",
	"/usr/share/zoneinfo",
	"/sys/devices/system/cpu",	/* get_nprocs(), in threads */
};

/* libpq's keywords that name a file it may read on any connection. */
static const char *const pq_files[] = {
	"passfile", "sslcert", "sslkey", "sslrootcert", "sslcrl",
};

/* Adds path (copied) once; a second time is no error. */
static int
add(struct fsview *v, const char *path)
{
	size_t	 i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->p[i].path, path) == 0)
			return 0;
	if (v->n == FSVIEW_MAX) {
		log_warnx("landlock: more than %d paths", FSVIEW_MAX);
		return -1;
	}
	if ((v->own[v->n] = strdup(path)) == NULL) {
		log_warn("landlock");
		return -1;
	}
	v->p[v->n].path = v->own[v->n];
	v->p[v->n].fd = -1;
	v->p[v->n].access = POLICY_FS_READ;
	v->n++;
	return 0;
}

/* The directory part of path: "." for a bare name, "/" at the root. */
static void
dir_of(const char *path, char *dir, size_t len)
{
	const char	*slash;

	if ((slash = strrchr(path, '/')) == NULL)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/*
 * A file's directory, so that the file may be replaced by a rename, and
 * the directory of what it links to (Landlock judges the file reached).
 * Relative names are taken from the working directory, as libpq does.
 */
static int
add_dir_of(struct fsview *v, const char *file)
{
	char	 dir[PATH_MAX], real[PATH_MAX];

	if (strlen(file) >= sizeof(dir))
		return 0;	/* libpq cannot open it either */
	dir_of(file, dir, sizeof(dir));
	if (realpath(dir, real) != NULL && add(v, real) == -1)
		return -1;
	if (realpath(file, real) != NULL) {
		dir_of(real, dir, sizeof(dir));
		if (add(v, dir) == -1)
			return -1;
	}
	return 0;
}

/* A path beneath home, if there is a home. */
static int
add_home(struct fsview *v, const char *home, const char *name)
{
	char	 path[PATH_MAX];
	int	 n;

	if (home == NULL || *home != '/')
		return 0;
	n = snprintf(path, sizeof(path), "%s/%s", home, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	return add(v, path);
}

/* One keyword of the connection string; NULL if unset or empty. */
static const char *
pq_value(const PQconninfoOption *o, const char *keyword)
{
	for (; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL && *o->val != '\0' ? o->val :
			    NULL;
	return NULL;
}

/* libpq frees the parsed values without wiping them: a password is one. */
static void
pq_free(PQconninfoOption *opts)
{
	PQconninfoOption	*o;

	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
}

static int
add_pq(struct fsview *v, const char *dsn, const char *home)
{
	PQconninfoOption	*opts;
	const char		*val;
	char			*err = NULL;
	size_t			 i;
	int			 defaults = 0, rv = -1;

	if ((opts = PQconninfoParse(dsn, &err)) == NULL) {
		/* The message may quote the string: not logged. */
		PQfreemem(err);
		log_warnx("landlock: the database connection string does "
		    "not parse");
		return -1;
	}
	for (i = 0; i < sizeof(pq_files) / sizeof(pq_files[0]); i++) {
		if ((val = pq_value(opts, pq_files[i])) == NULL) {
			if (strcmp(pq_files[i], "passfile") != 0)
				defaults = 1;	/* in ~/.postgresql */
			else if (add_home(v, home, ".pgpass") == -1)
				goto done;
		} else if (strcmp(val, "system") != 0 &&
		    add_dir_of(v, val) == -1)	/* "system": OpenSSL's */
			goto done;
	}
	if ((val = pq_value(opts, "sslcrldir")) != NULL && add(v, val) == -1)
		goto done;
	if ((defaults && add_home(v, home, ".postgresql") == -1) ||
	    add_home(v, home, ".pg_service.conf") == -1)
		goto done;
	rv = 0;
 done:
	pq_free(opts);
	return rv;
}

int
fsview_make(struct fsview *v, const char *dsn, const char *crl,
    const char *home)
{
	char	 real[PATH_MAX], dir[PATH_MAX];
	size_t	 i;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (add(v, fixed[i]) == -1)
			goto fail;
	/* A resolver whose file lives elsewhere (systemd-resolved). */
	if (realpath("/etc/resolv.conf", real) != NULL) {
		dir_of(real, dir, sizeof(dir));
		if (add(v, dir) == -1)
			goto fail;
	}
	if (crl != NULL && *crl != '\0' && add_dir_of(v, crl) == -1)
		goto fail;
	if (add_pq(v, dsn != NULL ? dsn : "", home) == -1)
		goto fail;
	return 0;
 fail:
	fsview_free(v);
	return -1;
}

void
fsview_text(const struct fsview *v, char *buf, size_t len)
{
	size_t	 i, off = 0;
	int	 n;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < v->n && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i > 0 ? " " : "",
		    v->p[i].path);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

void
fsview_free(struct fsview *v)
{
	size_t	 i;

	for (i = 0; i < v->n; i++)
		free(v->own[i]);
	memset(v, 0, sizeof(*v));
}
