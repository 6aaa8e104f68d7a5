/*
 * The keyholder protocol: what dromos-broker may ask of dromosd over their
 * imsg socketpair, and how dromosd answers.  This header is the interface
 * of priv/ to unpriv/.
 *
 * Every request carries a request id in the imsg peerid field; the reply
 * echoes it, so a broker may pipeline many requests and match answers.
 * Payload fields use the imsg typed writers and readers: u32/u64 in network
 * byte order, strings and byte strings as a u32 length and the bytes.
 * Any request may instead be answered with KH_R_ERROR.  Every answer that
 * changes the keyring (INIT, ROTATE, and a SEAL flagged
 * KH_F_KEYRING_CHANGED) hands the broker a sealed blob to store, so a
 * restart never loses a key version.
 *
 * KH_KEYRING_LOAD with a keyring loaded replaces it only with its
 * successor: a keyring holding every version of the loaded one with the
 * same keys, which another broker's keyholder made by rotating and
 * stored.  Anything else is refused with KH_E_HAVE_KEYRING.
 *
 * The keyholder checks every request like OpenSSH's monitor: an unknown
 * type, a length outside the type's bounds or a malformed field is written
 * to the audit log and then ends the keyholder.  A well-formed request that
 * fails (a value that does not open, no keyring yet) is answered with
 * KH_R_ERROR and audited as a refusal.
 */
#ifndef DROMOS_KHPROTO_H
#define DROMOS_KHPROTO_H

#include <stdint.h>

/* The broker finds its end of the socketpair on this descriptor. */
#define KH_BROKER_FD		3
/*
 * And the read end of a pipe whose write end only dromosd holds: when
 * dromosd is told to stop it closes its end, and the broker, seeing end
 * of file, stops taking requests and answers those it has (it may still
 * ask the keyholder, which serves until the broker closes the channel)
 * within KH_DRAIN_MS, then exits.  dromosd waits KH_STOP_WAIT_MS at most.
 */
#define KH_STOP_FD		4
#define KH_DRAIN_MS		10000
#define KH_STOP_WAIT_MS		(KH_DRAIN_MS + 5000)

/* Field limits the keyholder enforces (shared with the sealed-value AD). */
#define KH_NAME_MAX		64	/* purpose, table, column */
#define KH_ROW_MAX		128	/* row id */
#define KH_PLAIN_MAX		8192	/* plaintext bytes in one SEAL */
#define KH_SEALED_MAX		(KH_PLAIN_MAX + 36)
#define KH_BLOB_MAX		14336	/* sealed keyring blob (>= KEYRING_BLOB_MAX) */
/* Broker settings; one imsg holds them (dromosd checks at build time). */
#define KH_CONF_MAX		(8192 + KH_RETURNS_MAX + 5 * KH_TLS_PATH_MAX)
#define KH_RETURNS_MAX		4096	/* allowed return URLs */
#define KH_TLS_PATH_MAX		512	/* a TLS file's path, with its NUL */
#define KH_KEEP_DAYS_MAX	36500	/* days of access_log kept, at most */

enum kh_type {
	/* broker -> keyholder */
	KH_SEAL = 1,		/* purpose, table, row, column, plaintext */
	KH_OPEN,		/* purpose, table, row, column, sealed */
	KH_KEYRING_INIT,	/* (none) -> KH_R_KEYRING: a new keyring */
	KH_KEYRING_LOAD,	/* sealed keyring blob -> KH_R_OK (see below) */
	KH_KEY_ROTATE,		/* (none) -> KH_R_KEYRING: a new version */
	KH_KEY_STATUS,		/* (none) -> KH_R_STATUS */
	KH_KEYRING_EXPORT,	/* (none) -> KH_R_KEYRING: the current blob */
	KH_AUDIT_MARK,		/* string: an operator's note -> KH_R_OK */
	KH_HEALTH,		/* (none) -> KH_R_OK */
	KH_METRICS,		/* (none) -> KH_R_METRICS; not audited */

	/* keyholder -> broker */
	KH_CONFIG = 64,		/* broker settings, sent once at start */
	KH_R_OK = 100,		/* (none) */
	KH_R_SEALED,		/* u32 flags, sealed value */
	KH_R_OPENED,		/* plaintext */
	KH_R_KEYRING,		/* sealed keyring blob */
	KH_R_STATUS,		/* u32 active, u32 n, n x (u32 v, u64 seals, u64 created) */
	KH_R_ERROR,		/* u32 error code */
	KH_R_METRICS,		/* u32 layout, u32 n, n x u64 (below) */
};
#define KH_TYPE_LAST		KH_METRICS	/* requests are 1..this */

/* KH_R_SEALED flags. */
#define KH_F_KEYRING_CHANGED	0x1	/* store KH_KEYRING_EXPORT's blob */

enum kh_error {
	KH_E_INTERNAL = 1,
	KH_E_NO_KEYRING,	/* SEAL/OPEN/ROTATE before INIT or LOAD */
	KH_E_HAVE_KEYRING,	/* INIT when one is loaded; LOAD of a non-successor */
	KH_E_BAD_VALUE,		/* does not open: tampered, moved, wrong AD */
	KH_E_UNKNOWN_VERSION,	/* sealed under a key version we lack */
	KH_E_BAD_KEYRING,	/* blob does not open under the root key */
	KH_E_AUDIT,		/* the audit line could not be written */
	KH_E_RATE,		/* over the keyholder's rate limit */
};
#define KH_E_LAST		KH_E_RATE	/* codes are 1..this */

/*
 * KH_R_METRICS: the keyholder's counters since it started, for the broker
 * to serve as Prometheus metrics (dromosd has no listener of its own).
 * Layout KH_METRICS_V2 is u32 KH_METRICS_V2, u32 KH_M_COUNT, then
 * KH_M_COUNT u64 in the order of enum kh_metric.  A new counter is a new
 * layout: the broker refuses one it does not know.  (V2 added the audit
 * log's reopens.)
 *
 * Seals and opens count once their answer is final (after the batch's
 * audit commit), so an answer turned into KH_E_AUDIT counts as refused
 * with that code.  A request the keyholder refuses as malformed ends it
 * (see above), so it has no counter: the audit log has its REFUSE line.
 */
#define KH_METRICS_V2		2

enum kh_metric {
	KH_M_SEAL_OK = 0,
	KH_M_OPEN_OK,
	/* + (code - 1): refused with KH_E_INTERNAL .. KH_E_LAST */
	KH_M_SEAL_REFUSED,
	KH_M_OPEN_REFUSED = KH_M_SEAL_REFUSED + KH_E_LAST,
	/* + (type - 1): requests answered, by type KH_SEAL .. KH_TYPE_LAST */
	KH_M_REQUESTS = KH_M_OPEN_REFUSED + KH_E_LAST,
	KH_M_AUDIT_LINES = KH_M_REQUESTS + KH_TYPE_LAST, /* written */
	KH_M_AUDIT_CHECKPOINTS,	/* signed checkpoints written */
	KH_M_AUDIT_FAILURES,	/* batches, timed checkpoints not written */
	KH_M_ROTATIONS,		/* new key versions: asked for or automatic */
	KH_M_BATCHES,		/* batches of answers released */
	KH_M_BATCH_MAX,		/* most requests in one batch (a gauge) */
	KH_M_START_TIME,	/* when the keyholder started, Unix seconds */
	KH_M_AUDIT_REOPENS,	/* audit log rotations (SIGHUP) done */
	KH_M_AUDIT_REOPEN_FAILURES,	/* moved away, but no new file */
	KH_M_COUNT
};

/*
 * KH_CONFIG payload: the settings the broker needs from dromos.conf, which
 * it cannot read itself (the file is readable by root only):
 *	string listen path, string admin socket path, string admin group,
 *	string database, u32 verbose, string public url (the gateway's base
 *	URL, for OAuth redirect URIs), string broker user, string the
 *	deployment's allowed return URLs, newline-separated, string the
 *	metrics listener ("" for none; else a numeric loopback address and
 *	port: "127.0.0.1:9101", "[::1]:9101"), string the TLS listener (""
 *	for none; else a numeric address and port: "0.0.0.0:8444",
 *	"[::]:8444", "192.0.2.10:8444"), string its certificate file, string
 *	its private key file, string its client CA file (the three absolute
 *	paths, shorter than KH_TLS_PATH_MAX, all "" when there is no TLS
 *	listener; the broker reads them itself, before its sandbox), string
 *	its client CRL file (the same, or "" for none), u32 the days of
 *	access_log to keep (0: all; at most 36500)
 */

#endif /* DROMOS_KHPROTO_H */
