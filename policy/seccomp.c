/*
 * Turn the allow-lists of rules.c into a seccomp filter with libseccomp
 * and load it.  The default action kills the whole process
 * (SECCOMP_RET_KILL_PROCESS), so a compromised thread cannot carry on
 * without the call it was refused; so does a system call made through
 * another architecture's entry point (int 0x80, x32).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/log.h"
#include "policy/policy.h"
#include "policy/rules.h"

static const char *const proc_names[] = {
	[POLICY_KEYHOLDER] = "keyholder",
	[POLICY_BROKER] = "broker",
	[POLICY_GATEWAY] = "gateway",
};

const char *
policy_proc_name(enum policy_proc proc)
{
	if ((size_t)proc >= sizeof(proc_names) / sizeof(proc_names[0]) ||
	    proc_names[proc] == NULL)
		return "unknown";
	return proc_names[proc];
}

/* For debug logs: which run-time value a rule was waiting for. */
static const char *const rv_names[] = {
	[RV_CONST] = "constant",
	[RV_IMSG] = "imsg fd",
	[RV_AUDIT] = "audit fd",
	[RV_AUDITDIR] = "audit directory fd",
	[RV_LOG] = "log fd",
	[RV_CHILD] = "child pid",
	[RV_SELF] = "own pid",
};

void
policy_fds_init(struct policy_fds *fds)
{
	fds->imsg = -1;
	fds->audit = -1;
	fds->auditdir = -1;
	fds->log = -1;
	fds->child = 0;
}

/*
 * Killing is the only default; DROMOS_SECCOMP_LOG=1 lets a developer see
 * every refused call in the kernel log in one run instead of one per crash.
 */
static uint32_t
default_action(void)
{
	const char	*v = secure_getenv("DROMOS_SECCOMP_LOG");

	if (v != NULL && strcmp(v, "1") == 0) {
		log_warnx("seccomp: DROMOS_SECCOMP_LOG=1: refused system "
		    "calls are logged, not killed; never use in production");
		return SCMP_ACT_LOG;
	}
	return SCMP_ACT_KILL_PROCESS;
}

/*
 * The value an argument is compared with.  -1 when the run-time value is
 * absent: the rule is then left out, so nothing is allowed on its behalf.
 */
static int
cmp_value(const struct rule_cmp *c, const struct policy_fds *fds,
    uint64_t *v)
{
	int	 fd;

	if (c->from == RV_CONST) {
		*v = c->datum;
		return 0;
	}
	if (c->from == RV_SELF) {
		*v = (uint64_t)getpid();
		return 0;
	}
	if (fds == NULL)
		return -1;
	if (c->from == RV_CHILD) {
		if (fds->child <= 0)
			return -1;
		*v = (uint64_t)fds->child;
		return 0;
	}
	switch (c->from) {
	case RV_IMSG:
		fd = fds->imsg;
		break;
	case RV_AUDIT:
		fd = fds->audit;
		break;
	case RV_AUDITDIR:
		fd = fds->auditdir;
		break;
	case RV_LOG:
		fd = fds->log;
		break;
	default:
		return -1;
	}
	if (fd < 0)
		return -1;
	*v = (uint64_t)fd;
	return 0;
}

static int
rule_add(scmp_filter_ctx ctx, const struct policy_rule *r,
    const struct policy_fds *fds)
{
	struct scmp_arg_cmp	 cmps[RULE_MAXCMP];
	const struct rule_cmp	*c;
	unsigned int		 i, n = 0;
	uint64_t		 v;
	uint32_t		 action;
	int			 nr, rc;

	nr = seccomp_syscall_resolve_name(r->name);
	if (nr == __NR_SCMP_ERROR || nr < 0) {
		/* Unknown name, or a call this architecture does not have. */
		log_debug("seccomp: no system call %s here, rule skipped",
		    r->name);
		return 0;
	}
	for (i = 0; i < RULE_MAXCMP && r->cmp[i].op != 0; i++) {
		c = &r->cmp[i];
		if (c->arg > 5) {
			log_warnx("seccomp: %s: bad argument index %u",
			    r->name, c->arg);
			return -1;
		}
		if (cmp_value(c, fds, &v) == -1) {
			log_debug("seccomp: %s: no %s given, rule left out",
			    r->name, (size_t)c->from < sizeof(rv_names) /
			    sizeof(rv_names[0]) ? rv_names[c->from] : "value");
			return 0;
		}
		cmps[n].arg = c->arg;
		cmps[n].op = c->op;
		if (c->op == SCMP_CMP_MASKED_EQ) {
			cmps[n].datum_a = c->mask;
			cmps[n].datum_b = v;
		} else {
			cmps[n].datum_a = v;
			cmps[n].datum_b = 0;
		}
		n++;
	}
	action = r->fail_errno != 0 ?
	    SCMP_ACT_ERRNO((uint32_t)r->fail_errno) : SCMP_ACT_ALLOW;
	if ((rc = seccomp_rule_add_array(ctx, action, nr, n, cmps)) < 0) {
		log_warnx("seccomp: rule for %s: %s", r->name, strerror(-rc));
		return -1;
	}
	return 0;
}

static int
ctx_attrs(scmp_filter_ctx ctx)
{
	int	 rc;

	/* Syscalls through a foreign ABI are never ours. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0 ||
	    /* Threads already running get the filter too, or loading fails. */
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0) {
		log_warnx("seccomp: filter attributes: %s", strerror(-rc));
		return -1;
	}
	/* A binary tree keeps long lists cheap; old libseccomp lacks it. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0)
		log_debug("seccomp: no binary tree optimisation");
	return 0;
}

int
policy_seccomp_load_lists(const struct policy_list *lists, size_t nlists,
    const struct policy_fds *fds)
{
	scmp_filter_ctx	 ctx;
	size_t		 i, j;
	int		 rc;

	if (seccomp_api_get() < 3) {
		log_warnx("seccomp: kernel or libseccomp too old for "
		    "SECCOMP_RET_KILL_PROCESS");
		return -1;
	}
	if ((ctx = seccomp_init(default_action())) == NULL) {
		log_warnx("seccomp: seccomp_init failed");
		return -1;
	}
	if (ctx_attrs(ctx) == -1)
		goto fail;
	for (i = 0; i < nlists; i++)
		for (j = 0; j < lists[i].nrules; j++)
			if (rule_add(ctx, &lists[i].rules[j], fds) == -1)
				goto fail;
	if ((rc = seccomp_load(ctx)) < 0) {
		log_warnx("seccomp: load: %s", strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	return 0;
 fail:
	seccomp_release(ctx);
	return -1;
}

int
policy_seccomp_load(enum policy_proc proc, const struct policy_fds *fds)
{
	const struct policy_list	*lists;
	size_t				 nlists;

	if ((lists = policy_lists(proc, &nlists)) == NULL) {
		log_warnx("seccomp: no policy for process %d", (int)proc);
		return -1;
	}
	/* Said before loading: the filter may not allow this log's fd. */
	log_debug("seccomp: loading the %s filter", policy_proc_name(proc));
	if (policy_seccomp_load_lists(lists, nlists, fds) == -1) {
		log_warnx("seccomp: %s filter not loaded",
		    policy_proc_name(proc));
		return -1;
	}
	return 0;
}
