/*
 * Giving up privileges, in the order OpenBSD daemons use: find the user
 * while the password database is reachable, give up groups, then gids,
 * then uids, and prove that root cannot be had back.  Capabilities are
 * cleared with libcap.  Every failure is fatal: a half-dropped process
 * must not go on.
 */
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "common/log.h"
#include "policy/policy.h"

/* Nonzero when cap is in this process's flag set. */
static int
cap_held(cap_value_t cap, cap_flag_t flag)
{
	cap_t			 c;
	cap_flag_value_t	 v = CAP_CLEAR;

	if ((c = cap_get_proc()) == NULL)
		fatal("cap_get_proc");
	if (cap_get_flag(c, cap, flag, &v) == -1)
		fatal("cap_get_flag");
	cap_free(c);
	return v == CAP_SET;
}

/* How many capabilities are still in the bounding set. */
static int
bounding_count(void)
{
	cap_value_t	 c;
	int		 n = 0;

	for (c = 0; c < (cap_value_t)cap_max_bits(); c++)
		if (cap_get_bound(c) == 1)
			n++;
	return n;
}

/*
 * Empty the bounding set so that no later execve (there should be none)
 * can bring a capability back.  Needs CAP_SETPCAP, which setresuid() to a
 * non-root user takes away: policy_drop_user() calls this first.
 */
static void
bounding_clear(void)
{
	cap_value_t	 c;

	if (bounding_count() == 0)
		return;
	if (!cap_held(CAP_SETPCAP, CAP_EFFECTIVE)) {
		/*
		 * Not permitted (a developer's run, or a service manager that
		 * already narrowed the set).  With no_new_privs set, nothing
		 * left here can be gained through execve anyway.
		 */
		if (geteuid() == 0)
			log_warnx("caps: no CAP_SETPCAP, bounding set left "
			    "with %d capabilities", bounding_count());
		else
			log_info("caps: not root, bounding set left as it is");
		return;
	}
	for (c = 0; c < (cap_value_t)cap_max_bits(); c++)
		if (cap_get_bound(c) == 1 && cap_drop_bound(c) == -1)
			fatal("caps: PR_CAPBSET_DROP %d", (int)c);
	if (bounding_count() != 0)
		fatalx("caps: bounding set not empty after dropping");
}

void
policy_caps_clear(void)
{
	cap_t	 now, none;
	int	 same;

	bounding_clear();
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() == -1)
		fatal("caps: clearing the ambient set");
	if ((none = cap_init()) == NULL)
		fatal("cap_init");
	if (cap_set_proc(none) == -1)
		fatal("caps: clearing the process sets");
	/* Read them back: effective, permitted and inheritable all empty. */
	if ((now = cap_get_proc()) == NULL)
		fatal("cap_get_proc");
	same = cap_compare(now, none) == 0;
	cap_free(now);
	cap_free(none);
	if (!same)
		fatalx("caps: capabilities left after clearing");
	log_debug("caps: all capability sets empty");
}

/* The ids are what was asked, all three of each, and one group. */
static void
ids_verify(const char *user, uid_t uid, gid_t gid)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, groups[2];

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("getresuid");
	if (ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid)
		fatalx("privdrop: ids are not those of %s", user);
	if (getgroups(2, groups) != 1 || groups[0] != gid)
		fatalx("privdrop: supplementary groups left");
	/* The proof: root cannot be had back. */
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		fatalx("privdrop: could become root again after dropping to %s",
		    user);
}

void
policy_drop_user(const char *user)
{
	struct passwd	*pw;
	uid_t		 uid;
	gid_t		 gid;

	if (geteuid() != 0) {
		log_info("privdrop: not root, staying uid %u instead of %s",
		    (unsigned int)getuid(), user);
		return;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			fatal("privdrop: getpwnam %s", user);
		fatalx("privdrop: no user %s", user);
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0 || gid == 0)
		fatalx("privdrop: user %s has uid or gid 0", user);

	bounding_clear();
	if (setgroups(1, &gid) == -1)
		fatal("privdrop: setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("privdrop: setresgid");
	if (setresuid(uid, uid, uid) == -1)
		fatal("privdrop: setresuid");
	ids_verify(user, uid, gid);
	log_debug("privdrop: running as %s (uid %u, gid %u)", user,
	    (unsigned int)uid, (unsigned int)gid);
}

void
policy_harden_process(void)
{
	const struct rlimit	 nocore = { 0, 0 };

	/* No ptrace by our own uid, no /proc/pid/mem, no core dumps. */
	if (prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) == -1)
		fatal("prctl PR_SET_DUMPABLE");
	if (setrlimit(RLIMIT_CORE, &nocore) == -1)
		fatal("setrlimit RLIMIT_CORE");
	/* No execve can grant privileges again (setuid files, file caps). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL) != 1)
		fatalx("harden: prctl settings did not hold");
}
