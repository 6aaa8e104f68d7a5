/* The keyholder's state and request loop (dromosd after start-up). */
#ifndef DROMOS_PRIV_KEYHOLDER_H
#define DROMOS_PRIV_KEYHOLDER_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "imsg/imsg.h"
#include "priv/khproto.h"

struct audit;
struct keyring;

struct keyholder {
	struct imsgbuf	 ibuf;		/* to the broker */
	pid_t		 broker;
	int		 stopfd;	/* closed: the broker is to stop */
	const uint8_t	*rootkey;	/* 32 bytes of locked memory */
	struct keyring	*kr;		/* NULL until KEYRING_INIT/LOAD */
	struct audit	*audit;
	int		 audit_dirfd;	/* O_PATH: where the next log goes */
	char		*audit_name;	/* the log's name in it */
	uint64_t	 rotate_after;	/* seals per key version */
	uint64_t	 checkpoint_interval;	/* seconds; 0: by count only */
	time_t		 last_checkpoint;
	uint32_t	 rate;		/* SEAL+OPEN per second; 0: no limit */
	uint32_t	 rate_left;
	time_t		 rate_sec;
	/* KH_R_METRICS (khproto.h); the audit writer keeps its own. */
	uint64_t	 m[KH_M_COUNT];
	int		 audit_lost;	/* an append failed in this batch */
};

int	 keyholder_loop(struct keyholder *);
void	 kh_refuse_stream(struct keyholder *, const char *)
	    __attribute__((__noreturn__));

#endif /* DROMOS_PRIV_KEYHOLDER_H */
