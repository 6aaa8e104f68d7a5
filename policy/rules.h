/*
 * Internal to policy/: how the seccomp allow-lists are written down.
 *
 * A list is an array of rules; a rule names one system call and up to
 * RULE_MAXCMP conditions on its arguments, all of which must hold.  Several
 * rules for the same call are alternatives.  A process's filter is the
 * union of a few lists (policy_lists()).  Names are resolved with
 * libseccomp at load time, so the tables stay readable; a name unknown on
 * the running architecture is left out with a debug log.
 */
#ifndef DROMOS_POLICY_RULES_H
#define DROMOS_POLICY_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

#include "policy/policy.h"

#define RULE_MAXCMP	3

/* Where the value an argument is compared with comes from. */
enum rule_val {
	RV_CONST = 0,	/* the datum written in the table */
	RV_IMSG,	/* policy_fds.imsg */
	RV_AUDIT,	/* policy_fds.audit */
	RV_AUDITDIR,	/* policy_fds.auditdir */
	RV_LOG,		/* policy_fds.log */
	RV_CHILD,	/* policy_fds.child */
	RV_SELF,	/* getpid() when the filter loads */
};

struct rule_cmp {
	unsigned int		 arg;	/* argument index, 0..5 */
	enum scmp_compare	 op;	/* 0: unused slot */
	uint64_t		 mask;	/* SCMP_CMP_MASKED_EQ only */
	uint64_t		 datum;	/* with RV_CONST */
	enum rule_val		 from;
};

struct policy_rule {
	const char		*name;
	int			 fail_errno;	/* 0: allow; else fail so */
	struct rule_cmp		 cmp[RULE_MAXCMP];
};

struct policy_list {
	const char		*what;
	const struct policy_rule *rules;
	size_t			 nrules;
};

/* Conditions. */
#define RCMP(a, o, m, d, f) \
	{ .arg = (a), .op = (o), .mask = (m), .datum = (d), .from = (f) }
/* Argument a equals the constant v. */
#define ARG_EQ(a, v)		RCMP(a, SCMP_CMP_EQ, 0, (uint64_t)(v), RV_CONST)
/* Argument a, masked with m, equals v (bits of m not in v must be 0). */
#define ARG_MASKED(a, m, v) \
	RCMP(a, SCMP_CMP_MASKED_EQ, (uint64_t)(m), (uint64_t)(v), RV_CONST)
/* Argument a equals a value known at run time (enum rule_val). */
#define ARG_IS(a, f)		RCMP(a, SCMP_CMP_EQ, 0, 0, f)

/* Rules. */
#define ALLOW(n)		{ .name = (n) }
#define ALLOW_IF(n, ...)	{ .name = (n), .cmp = { __VA_ARGS__ } }
#define FAIL_WITH(n, e)		{ .name = (n), .fail_errno = (e) }

/* The lists whose union is proc's filter; sets *nlists.  NULL if unknown. */
const struct policy_list *policy_lists(enum policy_proc, size_t *nlists);

/* The loader proper, given the lists (the unit tests pass their own). */
int	 policy_seccomp_load_lists(const struct policy_list *, size_t,
	    const struct policy_fds *);

#endif /* DROMOS_POLICY_RULES_H */
