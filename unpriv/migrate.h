/*
 * Schema migrations: unpriv/sql/NNN_name.sql, compiled into the broker by
 * scripts/embed-sql (the sandboxed broker reads no files at run time) and
 * applied in version order at start, each recorded in schema_migrations.
 *
 * Several brokers may start together against one database: the whole run
 * is one transaction under an advisory lock, so one applies and the
 * others then find nothing to do.  A database that records a migration
 * this broker does not know (a newer broker migrated it) is refused: an
 * older broker must not write to a schema it does not understand.
 *
 * A migration runs inside that transaction, so it must not contain
 * BEGIN/COMMIT or anything that cannot run in a transaction block
 * (CREATE INDEX CONCURRENTLY, VACUUM).
 */
#ifndef DROMOS_UNPRIV_MIGRATE_H
#define DROMOS_UNPRIV_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

/* pg_advisory_xact_lock key: "DROMOS" 0x0001. */
#define MIGRATE_LOCK_KEY	"4923084536131289089"

struct migration {
	int		 version;	/* NNN, > 0 */
	const char	*name;
	const char	*sql;
	size_t		 len;		/* strlen(sql), as embed-sql saw it */
};

/* Generated into $(BUILD)/gen/sql_migrations.c by scripts/embed-sql. */
extern const struct migration	migrate_list[];
extern const size_t		migrate_count;

struct db_pool;

/*
 * Is the list usable: at least one entry, versions > 0 and strictly
 * increasing, names and texts present, texts of the recorded length?
 * 0 or -1 (logged).
 */
int	 migrate_check(const struct migration *, size_t n);

/*
 * Bring the database of the pool up to date with migrate_list, on a
 * connection of its own.  0, or -1 (logged): the broker must not start.
 */
int	 migrate_apply(struct db_pool *);

/* The same on a given connection and list (tests). */
int	 migrate_run(PGconn *, const struct migration *, size_t n);

#endif /* DROMOS_UNPRIV_MIGRATE_H */
