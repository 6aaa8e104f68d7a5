/*
 * A fake keyholder for the unpriv/ unit tests: a thread that speaks
 * priv/khproto.h over a socketpair with the real imsg library, checks every
 * request it gets the way dromosd would, and answers according to a mode.
 *
 * Its "sealed values" have the real layout (DRM, format, version, nonce,
 * body, tag) but the body is the plaintext XOR a constant and the tag a
 * checksum of the associated data and plaintext: enough to catch moved
 * values and mangled bytes, useless as cryptography.
 */
#ifndef DROMOS_TESTS_UNPRIV_FAKEKH_H
#define DROMOS_TESTS_UNPRIV_FAKEKH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg/imsg.h"
#include "priv/khproto.h"

enum fakekh_mode {
	FK_NORMAL,	/* behave */
	FK_ERROR,	/* answer every request KH_R_ERROR with `code' */
	FK_WRONG_ID,	/* echo the id plus one */
	FK_WRONG_TYPE,	/* answer SEAL with KH_R_OPENED */
	FK_TRAILING,	/* a byte too many after every reply payload */
	FK_SHORT_SEAL,	/* a sealed value one byte short */
	FK_CORRUPT,	/* OPEN answers a plaintext with one bit flipped */
	FK_EOF,		/* hang up on the first request */
	FK_SILENT,	/* read requests, never answer */
	FK_PIPELINE,	/* hold replies until `hold' requests are in */
	FK_REORDER,	/* answer each pair of requests in reverse order */
};

struct fakekh {
	int			 fd;		/* the keyholder's end */
	int			 brokerfd;	/* the other end, for the test */
	pthread_t		 thread;
	struct imsgbuf		 ib;
	struct imsg		 held;		/* FK_REORDER */
	int			 pending;
	enum fakekh_mode	 mode;
	uint32_t		 code;		/* FK_ERROR */
	unsigned int		 hold;		/* FK_PIPELINE */
	int			 have_keyring;
	/* KH_R_METRICS: layout and count sent (0: the right ones). */
	uint32_t		 mlayout;
	uint32_t		 mcount;

	/* What it saw, for the test to check (read after fakekh_stop). */
	unsigned int		 nreq;
	unsigned int		 nbad;		/* malformed requests */
	unsigned int		 maxheld;	/* most requests held at once */
	uint32_t		 lastid;
	uint32_t		 lasttype;
	int			 ids_increasing;
	char			 lastpurpose[KH_ROW_MAX + 1];
	char			 lastrow[KH_ROW_MAX + 1];
	char			 note[512];
	size_t			 lastplainlen;
};

/*
 * fakekh_init makes the socketpair (brokerfd is the client's end) and sets
 * defaults (code KH_E_RATE, hold 8, no keyring); fakekh_run starts the
 * thread.  fakekh_start does both, with a keyring if keyring is nonzero.
 */
void	 fakekh_init(struct fakekh *, enum fakekh_mode);
void	 fakekh_run(struct fakekh *);
void	 fakekh_start(struct fakekh *, enum fakekh_mode, int keyring);

/* What the fake would answer to a SEAL: out gets len + 36 bytes. */
void	 fakekh_seal(const char *purpose, const char *table, const char *row,
	    const char *column, const void *plain, size_t len,
	    unsigned char *out);
/* Close the keyholder's end (the client sees EOF) and join. */
void	 fakekh_stop(struct fakekh *);

/*
 * Send a KH_CONFIG with these fields from the keyholder's end, unstarted;
 * tls is the TLS listener and its certificate, key, CA and CRL paths
 * (NULL: all five ""; a NULL one: ""); keep the days of access_log.
 */
void	 fakekh_send_config(int fd, const char *listen, const char *admin,
	    const char *group, const char *db, const char *metrics,
	    const char *const tls[5], uint32_t verbose, uint32_t keep,
	    int trailing);

/* The value fakekh answers KH_METRICS with for counter i. */
#define FAKEKH_METRIC(i)	(1000u + (uint64_t)(i) * 7u)

#endif
