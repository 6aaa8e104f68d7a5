/*
 * Sandbox policies: one seccomp allow-list and one capability set per
 * process, and the helpers that drop privileges in the OpenBSD order.
 *
 * A daemon calls them in this order, each step before the next:
 *
 *	policy_drop_user("_dromos");	as root: look up the user, empty
 *					the bounding set, setgroups,
 *					setresgid, setresuid, prove it
 *	policy_caps_clear();		no capability in any set
 *	policy_harden_process();	not dumpable, no core, no_new_privs
 *	...warm up libraries...		(see policy_seccomp_load)
 *	if (policy_seccomp_load(POLICY_BROKER, &fds) == -1)
 *		fatalx("seccomp");
 *
 * policy_harden_process() comes after policy_drop_user() because the
 * kernel resets the dumpable flag whenever the uid or gid changes.
 *
 * When the process does not run as root (a developer's "make run"), the
 * user and capability steps log that they were skipped and return; the
 * rest still applies.
 *
 * DROMOS_SECCOMP_LOG=1 in the environment makes a filter log (SCMP_ACT_LOG,
 * visible in the kernel audit log / dmesg) instead of killing the process
 * on a system call outside its list.  It is a debugging aid for developers
 * writing a new code path and is never the default; it is ignored in a
 * process started with AT_SECURE (secure_getenv).
 */
#ifndef DROMOS_POLICY_H
#define DROMOS_POLICY_H

#include <sys/types.h>

#include <fcntl.h>
#include <stddef.h>

enum policy_proc {
	POLICY_KEYHOLDER,	/* dromosd */
	POLICY_BROKER,		/* dromos-broker */
	POLICY_GATEWAY,		/* dromos-gateway */
};

/*
 * What a filter needs to know that only exists at run time.  The keyholder
 * may read and write only these descriptors and signal only this pid; -1
 * (or a pid <= 0) leaves the matching rules out.  The broker and gateway
 * filters do not restrict descriptors and ignore this (it may be NULL).
 */
struct policy_fds {
	int	 imsg;		/* socket to the broker: read, write, *msg */
	int	 audit;		/* audit log: write, fsync, fdatasync, dup3 */
	int	 auditdir;	/* its directory: a new log (rotation) */
	int	 log;		/* diagnostic log (stderr): write */
	pid_t	 child;		/* the broker: kill(child, sig) */
};

/*
 * How the keyholder creates the next audit log in its directory when the
 * current one was moved away (rotation): openat(auditdir, name, these
 * flags, this mode), then dup3(2) over the audit descriptor.  The filter
 * allows exactly this: only a new file (O_EXCL), never truncated or read,
 * and glibc adds no flag on 64-bit systems, where off_t is 64 bits.
 */
#define POLICY_AUDIT_OPEN_FLAGS \
	(O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)
#define POLICY_AUDIT_OPEN_MODE	0600

/* Initialise every descriptor to -1 and child to 0. */
void	 policy_fds_init(struct policy_fds *);

/*
 * Load the seccomp filter of proc into this process (every thread; the
 * filter is inherited by children and can never be removed).  Anything not
 * in the list kills the whole process with SIGSYS.  Returns 0, or -1 with
 * the reason logged.  Libraries must have opened what they need first:
 * OpenSSL, libpq, libcurl and the resolver (one getaddrinfo, so that any
 * NSS module is loaded: loading code needs PROT_EXEC, which is refused).
 */
int	 policy_seccomp_load(enum policy_proc, const struct policy_fds *);

/*
 * Landlock, just before the seccomp filter: from now on the file system is
 * reached by path only beneath these directories, or these files, as each
 * allows (a path that does not exist is left out; with path NULL, the
 * directory is fd, O_PATH is enough); descriptors already open are not
 * affected.  Needs no_new_privs (policy_harden_process()).  0; 1 when the
 * kernel has no Landlock (the reason is logged; seccomp still limits the
 * calls); -1 on failure.
 */
#define POLICY_FS_READ		0x1	/* read files, list directories */
#define POLICY_FS_CREATE	0x2	/* create and write regular files */

struct policy_path {
	const char	*path;
	int		 fd;
	unsigned int	 access;
};

int	 policy_landlock(const struct policy_path *, size_t);
/* dromosd: create and write beneath its audit log's directory, dirfd. */
int	 policy_landlock_audit(int dirfd);

/* The name of a policy for logs: "keyholder", "broker", "gateway". */
const char *policy_proc_name(enum policy_proc);

/*
 * Empty the effective, permitted, inheritable, ambient and (when
 * CAP_SETPCAP allows it) bounding sets, then verify that no capability is
 * left.  fatalx() on failure.
 */
void	 policy_caps_clear(void);

/*
 * As root: become user for good (all three uids and gids, the group list
 * reduced to the user's group) and prove that setuid(0) fails.  The
 * bounding set is emptied first, while CAP_SETPCAP is still held.  Call
 * it before any chroot or sandbox, since it reads the password database.
 * Not root: logs and returns.  fatalx() on any failure.
 */
void	 policy_drop_user(const char *user);

/* PR_SET_DUMPABLE 0, RLIMIT_CORE 0, PR_SET_NO_NEW_PRIVS 1; fatal on error. */
void	 policy_harden_process(void);

#endif /* DROMOS_POLICY_H */
