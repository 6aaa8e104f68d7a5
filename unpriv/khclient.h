/*
 * The broker's side of the keyholder protocol (priv/khproto.h): one imsg
 * channel to dromosd, shared by every thread of the broker.
 *
 * Calls are synchronous for their caller, but calls from many threads
 * share the channel: each queues its requests behind those already on the
 * wire and waits for its own replies, which the keyholder sends in order.
 * Every request carries an id in the imsg peerid and its reply must echo
 * it.  kh_open_batch() pipelines many OPENs of one caller.
 *
 * Results, for every call below that returns int:
 *	0	done
 *	> 0	the keyholder refused: an enum kh_error code (KH_E_*)
 *	-1	no answer: errno says why.  EINVAL or EMSGSIZE for arguments
 *		the keyholder would reject (checked before anything is sent;
 *		the keyholder treats a malformed field as an attack and
 *		exits), ENOMEM; or the channel failed (EPIPE: the keyholder
 *		closed it, ETIMEDOUT: no reply in time, EBADMSG: a reply
 *		that breaks the protocol, or the error of a read or write).
 *
 * A channel failure is permanent: the stream can no longer be trusted to
 * be in step, so every later call fails at once with the same errno and
 * kh_client_dead() returns it.  The broker then has nothing to offer and
 * exits; the service manager restarts dromosd and the broker together.
 *
 * Plaintext passes through caller buffers only; the imsg library wipes
 * every message buffer it frees, and on any failure the plaintext outputs
 * of a call are zeroed.
 */
#ifndef DROMOS_UNPRIV_KHCLIENT_H
#define DROMOS_UNPRIV_KHCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "priv/khproto.h"

/* A sealed value is this many bytes longer than its plaintext. */
#define KH_SEAL_OVERHEAD	(KH_SEALED_MAX - KH_PLAIN_MAX)

/* Default wait for one reply, in milliseconds. */
#define KH_TIMEOUT_DEFAULT	5000

/* Room for a unix socket path (sizeof(sun_path)) and a group name. */
#define KH_PATH_MAX		108
#define KH_GROUP_MAX		64
#define KH_URL_MAX		256
#define KH_USER_MAX		32

struct khclient;

/*
 * Where a sealed value lives; it is bound to these.  purpose, table and
 * column: 1..KH_NAME_MAX of [a-z0-9_]; row: 1..KH_ROW_MAX printable
 * ASCII bytes (0x20..0x7e).
 */
struct kh_ad {
	const char	*purpose;
	const char	*table;
	const char	*row;
	const char	*column;
};

/* KH_CONFIG: the broker's settings, as dromosd read them. */
struct kh_config {
	char		 listen[KH_PATH_MAX];	/* internal HTTP socket */
	char		 admin[KH_PATH_MAX];	/* admin socket ("" if none) */
	char		 group[KH_GROUP_MAX];	/* admin group ("" if none) */
	char		*database;		/* libpq conninfo; may hold a
						   password: kh_config_clear */
	uint32_t	 verbose;
	char		 public_url[KH_URL_MAX + 1];	/* gateway base URL */
	char		 user[KH_USER_MAX + 1];		/* to run as */
	char		 returns[KH_RETURNS_MAX + 1];	/* "\n"-separated */
	char		 metrics[ADDR_TEXT_MAX];	/* "" or loopback */
	/* The API over TCP and mutual TLS: all "" when there is none. */
	char		 tls[ADDR_TEXT_MAX];		/* host:port */
	char		 tls_cert[KH_TLS_PATH_MAX];	/* PEM files */
	char		 tls_key[KH_TLS_PATH_MAX];
	char		 tls_ca[KH_TLS_PATH_MAX];
	char		 tls_crl[KH_TLS_PATH_MAX];	/* "": none */
	uint32_t	 access_keep;		/* days of access_log; 0: all */
};

/* KH_R_STATUS. */
#define KH_STATUS_MAXVERS	256	/* the keyholder keeps no more */
struct kh_keyver {
	uint32_t	 version;
	uint64_t	 seals;
	uint64_t	 created;		/* seconds since the epoch */
};
struct kh_status {
	uint32_t	 active;
	uint32_t	 nversions;
	struct kh_keyver versions[KH_STATUS_MAXVERS];
};

/* One OPEN of a kh_open_batch(). */
struct kh_open_op {
	struct kh_ad	 ad;			/* in */
	const void	*sealed;		/* in */
	size_t		 sealedlen;		/* in */
	void		*plain;			/* out: room for plainsz */
	size_t		 plainsz;		/* in */
	size_t		 plainlen;		/* out */
	int		 result;		/* out: 0 or a KH_E_* code */
};

/*
 * Take over fd (made non-blocking and close-on-exec; closed by
 * kh_client_free).  timeout_ms bounds the wait for every reply (<= 0: the
 * default).  ondead, if not NULL, is called once, from whichever thread
 * sees the channel fail, and must only do something quick such as write
 * to a pipe.  NULL and errno on failure.
 */
struct khclient	*kh_client_new(int fd, int timeout_ms,
		    void (*ondead)(void *), void *arg);
void		 kh_client_free(struct khclient *);

/* 0 while the channel works, or the errno that ended it. */
int		 kh_client_dead(struct khclient *);
/*
 * Declare the channel failed with err (e.g. EPIPE when another thread saw
 * the keyholder hang up); calls in progress fail when their I/O does, new
 * ones at once.  The first failure, from here or from I/O, calls ondead.
 */
void		 kh_client_kill(struct khclient *, int err);

/* A short description of a result code (0, KH_E_* or -1 with errno). */
const char	*kh_strerror(int result);

/*
 * Wait up to timeout_ms for the KH_CONFIG message dromosd sends first, and
 * check it: listen is an absolute path that fits a sockaddr_un, admin is
 * empty or one too, group is empty or a plausible group name, metrics is
 * empty or a numeric loopback address and port (common/addr.h).  0 or -1
 * (errno; EBADMSG for a malformed or unexpected message; EBUSY when a
 * request is in progress: this comes first).  The channel is not usable
 * for requests after a failure.
 */
int		 kh_recv_config(struct khclient *, int timeout_ms,
		    struct kh_config *);
/* Wipe and free what kh_recv_config() stored. */
void		 kh_config_clear(struct kh_config *);

/*
 * Seal plainlen (1..KH_PLAIN_MAX) bytes.  sealed needs room for plainlen +
 * KH_SEAL_OVERHEAD bytes; *sealedlen gets that length and *flags (may be
 * NULL) the KH_F_* flags of the reply.
 */
int		 kh_seal(struct khclient *, const struct kh_ad *,
		    const void *plain, size_t plainlen, void *sealed,
		    size_t sealedsz, size_t *sealedlen, uint32_t *flags);

/*
 * Open a sealed value (KH_SEAL_OVERHEAD..KH_SEALED_MAX bytes).  plain needs
 * room for sealedlen - KH_SEAL_OVERHEAD bytes; *plainlen gets the length.
 */
int		 kh_open(struct khclient *, const struct kh_ad *,
		    const void *sealed, size_t sealedlen, void *plain,
		    size_t plainsz, size_t *plainlen);

/*
 * Many OPENs, pipelined: requests are sent while earlier replies are still
 * on their way.  Returns 0 when every reply arrived, each op's result
 * saying how it went; -1 (errno) when the batch as a whole failed, in
 * which case every op's plaintext is zeroed.  The timeout applies to the
 * wait for each reply, not to the whole batch.  At most 2^24 ops.
 */
int		 kh_open_batch(struct khclient *, struct kh_open_op *, size_t);

/*
 * OPEN without waiting for it.  kh_client_async() first starts the reader
 * thread (once; 0 or -1).  kh_open_start() copies what it needs and puts
 * the request on the wire; NULL (errno) if it could not, and cb is not
 * called.  Otherwise cb(arg, a) is called exactly once, from the reader
 * thread or whichever thread sees the channel fail (possibly before
 * kh_open_start() returns), with the channel's mutex held: it must only
 * note a and wake someone, never call into the khclient.  That someone
 * then calls kh_open_finish(a, ...) exactly once: it copies the plaintext
 * out, wipes and frees a, and returns like kh_open().
 */
struct kh_aopen;

int		 kh_client_async(struct khclient *);
struct kh_aopen	*kh_open_start(struct khclient *, const struct kh_ad *,
		    const void *sealed, size_t sealedlen,
		    void (*cb)(void *, struct kh_aopen *), void *arg);
int		 kh_open_finish(struct kh_aopen *, void *plain, size_t plainsz,
		    size_t *plainlen);

/*
 * The keyring.  INIT makes a new one, ROTATE adds a key version, EXPORT
 * fetches it: each answers with the keyring sealed under the root key, at
 * most KH_BLOB_MAX bytes, stored into blob (blobsz >= KH_BLOB_MAX) for the
 * broker to keep.  LOAD gives a fresh keyholder a blob kept earlier.
 */
int		 kh_keyring_init(struct khclient *, void *blob, size_t blobsz,
		    size_t *bloblen);
int		 kh_keyring_load(struct khclient *, const void *blob,
		    size_t bloblen);
int		 kh_keyring_export(struct khclient *, void *blob,
		    size_t blobsz, size_t *bloblen);
int		 kh_key_rotate(struct khclient *, void *blob, size_t blobsz,
		    size_t *bloblen);
int		 kh_status(struct khclient *, struct kh_status *);
int		 kh_audit_mark(struct khclient *, const char *note);
int		 kh_health(struct khclient *);
/*
 * The keyholder's counters (KH_METRICS), v[i] for enum kh_metric i.  A
 * reply in another layout than KH_METRICS_V2 breaks the protocol.
 */
int		 kh_metrics(struct khclient *, uint64_t v[KH_M_COUNT]);

#endif /* DROMOS_UNPRIV_KHCLIENT_H */
