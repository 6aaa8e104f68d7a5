/*
 * The seccomp allow-lists of the Dromos processes, as data.
 *
 * Each process's filter is the union of a few lists below (proc_lists at
 * the end).  Anything not listed kills the process.  Every entry says why
 * it is there; an entry nobody can justify does not belong here.
 *
 *	keyholder (dromosd)	base + keyholder
 *	broker			base + service + broker
 *	gateway			base + service
 *
 * Nothing here may depend on how the program was built: sanitizers and
 * debuggers get no extra entries (DROMOS_SECCOMP_LOG=1 exists for that).
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>

#include <linux/netlink.h>

#include "policy/policy.h"
#include "policy/rules.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Memory may be mapped or reprotected, never executable. */
#define NO_EXEC(argn)	ARG_MASKED(argn, PROT_EXEC, 0)

/*
 * clone(2) is allowed for threads only: every flag pthread_create() sets
 * that makes the child share the address space, descriptors and signal
 * handlers must be present, and no flag that makes a namespace, a vfork
 * or a traced child may be.
 */
#define CLONE_THREAD_FLAGS \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | \
	 CLONE_SYSVSEM)
#define CLONE_NEVER \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
	 CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_PTRACE | \
	 CLONE_UNTRACED | CLONE_VFORK)

/* Files may be opened to read only: no write access, no create, no trunc. */
#define OPEN_RDONLY_MASK	(O_ACCMODE | O_CREAT | O_TRUNC)

/* The socket type without SOCK_NONBLOCK / SOCK_CLOEXEC. */
#define SOCK_TYPE_MASK		0xf

/*
 * Every process: what the C library, the allocator and our logging need
 * to run at all, and nothing that reaches outside the process.
 */
static const struct policy_rule base_rules[] = {
	/* Ending: exit(3), _exit(2), thread exit. */
	ALLOW("exit_group"),
	ALLOW("exit"),
	/* The kernel restarts an interrupted nanosleep/poll through this. */
	ALLOW("restart_syscall"),
	/* Signal handlers (SIGTERM, SIGCHLD) and masks. */
	ALLOW("rt_sigreturn"),
	ALLOW("rt_sigprocmask"),
	ALLOW("rt_sigaction"),
	/* abort(3) and raise(3): a process may signal itself only. */
	ALLOW_IF("tgkill", ARG_IS(0, RV_SELF)),
	ALLOW("getpid"),
	/* malloc(3), libsodium's guarded allocations: never PROT_EXEC. */
	ALLOW("brk"),
	ALLOW_IF("mmap", NO_EXEC(2)),
	ALLOW_IF("mprotect", NO_EXEC(2)),
	ALLOW("munmap"),
	ALLOW("mremap"),
	/* free(3) returning pages; MADV_DONTDUMP on key memory. */
	ALLOW("madvise"),
	/* Locks inside the C library and, in threaded programs, mutexes. */
	ALLOW("futex"),
	/* Time stamps for logs and timeouts (the vDSO's fallbacks). */
	ALLOW("clock_gettime"),
	ALLOW("clock_getres"),
	ALLOW("gettimeofday"),
	ALLOW("nanosleep"),
	ALLOW("clock_nanosleep"),
	/* Nonces and keys; OpenSSL's and libsodium's RNGs. */
	ALLOW("getrandom"),
	/* Event loops. */
	ALLOW("poll"),
	ALLOW("ppoll"),
	/* Closing a descriptor gives nothing away. */
	ALLOW("close"),
};

/*
 * dromosd, the keyholder (DESIGN §2): it talks to the broker over one
 * socket, appends to its audit log, writes diagnostics, and waits for its
 * one child.  It opens nothing but the next audit log when the current
 * one is rotated, creates no socket, never forks again.
 */
static const struct policy_rule keyholder_rules[] = {
	/* The imsg channel to the broker, and only that. */
	ALLOW_IF("read", ARG_IS(0, RV_IMSG)),
	ALLOW_IF("readv", ARG_IS(0, RV_IMSG)),
	ALLOW_IF("recvmsg", ARG_IS(0, RV_IMSG)),
	ALLOW_IF("write", ARG_IS(0, RV_IMSG)),
	ALLOW_IF("writev", ARG_IS(0, RV_IMSG)),
	ALLOW_IF("sendmsg", ARG_IS(0, RV_IMSG)),
	/* The audit chain: append, then make it durable. */
	ALLOW_IF("write", ARG_IS(0, RV_AUDIT)),
	ALLOW_IF("fsync", ARG_IS(0, RV_AUDIT)),
	ALLOW_IF("fdatasync", ARG_IS(0, RV_AUDIT)),
	/*
	 * Rotation: the next log is created, never opened if it exists, in
	 * the log's own directory (held open from start-up; Landlock keeps
	 * an absolute path from going elsewhere, policy_landlock_audit()),
	 * and takes the audit descriptor's number, which the rules above
	 * name.
	 */
	ALLOW_IF("openat", ARG_IS(0, RV_AUDITDIR),
	    ARG_EQ(2, POLICY_AUDIT_OPEN_FLAGS),
	    ARG_EQ(3, POLICY_AUDIT_OPEN_MODE)),
	ALLOW_IF("dup3", ARG_IS(1, RV_AUDIT), ARG_EQ(2, O_CLOEXEC)),
	/* common/log.c: one write(2) per line. */
	ALLOW_IF("write", ARG_IS(0, RV_LOG)),
	/* Key memory stays out of swap (sodium_mlock, sodium_malloc). */
	ALLOW("mlock"),
	ALLOW("munlock"),
	/* Reaping the broker: waiting can only concern our own children. */
	ALLOW("wait4"),
	/* Stopping the broker: its pid only, never 0 or -1 (a group). */
	ALLOW_IF("kill", ARG_IS(0, RV_CHILD)),
};

/*
 * dromos-broker and dromos-gateway: threaded network services built on
 * libmicrohttpd, OpenSSL and libcurl (and, for the broker, libpq).  They
 * handle many descriptors, so descriptors are not restricted; what is
 * restricted is what new things they may create.
 */
static const struct policy_rule service_rules[] = {
	/* Reading and writing on descriptors the process holds. */
	ALLOW("read"),
	ALLOW("readv"),
	ALLOW("write"),
	ALLOW("writev"),
	ALLOW("recvfrom"),
	ALLOW("sendto"),
	ALLOW("recvmsg"),
	ALLOW("sendmsg"),
	/* glibc's resolver sends the A and AAAA queries together. */
	ALLOW("sendmmsg"),
	ALLOW("shutdown"),
	/* stdio rewinds a partly read FILE when closing it. */
	ALLOW("lseek"),

	/*
	 * Files, read-only: glibc's resolver rereads /etc/resolv.conf and
	 * /etc/hosts when they change; OpenSSL reads the CA bundle at each
	 * handshake unless the caller caches the store; libpq looks for
	 * ~/.pgpass and pg_service.conf.  Everything else (keys, config) is
	 * read before the filter loads.  Write access, O_CREAT and O_TRUNC
	 * are refused, and plain open(2) is absent (glibc uses openat).
	 */
	ALLOW_IF("openat", ARG_MASKED(2, OPEN_RDONLY_MASK, O_RDONLY)),
	ALLOW("newfstatat"),
	ALLOW("fstat"),

	/*
	 * Sockets: unix (PostgreSQL's local socket, the admin socket, the
	 * gateway to broker link, nscd), TCP and UDP over IPv4 and IPv6
	 * (clients, providers, DNS).  No raw or packet sockets.
	 */
	ALLOW_IF("socket", ARG_EQ(0, AF_UNIX),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_STREAM)),
	ALLOW_IF("socket", ARG_EQ(0, AF_INET),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_STREAM)),
	ALLOW_IF("socket", ARG_EQ(0, AF_INET),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_DGRAM)),
	ALLOW_IF("socket", ARG_EQ(0, AF_INET6),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_STREAM)),
	ALLOW_IF("socket", ARG_EQ(0, AF_INET6),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_DGRAM)),
	/*
	 * getaddrinfo(3) asks the kernel which address families have
	 * addresses (RTM_GETADDR over NETLINK_ROUTE) to order its answers.
	 * Read-only for a process without CAP_NET_ADMIN.
	 */
	ALLOW_IF("socket", ARG_EQ(0, AF_NETLINK),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_RAW), ARG_EQ(2, NETLINK_ROUTE)),
	/* libcurl's and libmicrohttpd's wake-up channels. */
	ALLOW_IF("socketpair", ARG_EQ(0, AF_UNIX),
	    ARG_MASKED(1, SOCK_TYPE_MASK, SOCK_STREAM)),
	ALLOW("pipe2"),
	ALLOW("eventfd2"),
	ALLOW("connect"),
	ALLOW("bind"),
	ALLOW("listen"),
	ALLOW("accept"),
	ALLOW("accept4"),
	ALLOW("setsockopt"),
	ALLOW("getsockopt"),
	ALLOW("getsockname"),
	ALLOW("getpeername"),

	/* libmicrohttpd's polling back-ends (epoll, poll or select). */
	ALLOW("epoll_create1"),
	ALLOW("epoll_ctl"),
	ALLOW("epoll_wait"),
	ALLOW("epoll_pwait"),
	ALLOW("select"),
	ALLOW("pselect6"),

	/* Non-blocking and close-on-exec flags; nothing else of fcntl. */
	ALLOW_IF("fcntl", ARG_EQ(1, F_GETFD)),
	ALLOW_IF("fcntl", ARG_EQ(1, F_SETFD)),
	ALLOW_IF("fcntl", ARG_EQ(1, F_GETFL)),
	ALLOW_IF("fcntl", ARG_EQ(1, F_SETFL)),
	/* Bytes waiting, non-blocking mode, isatty(3). */
	ALLOW_IF("ioctl", ARG_EQ(1, FIONREAD)),
	ALLOW_IF("ioctl", ARG_EQ(1, FIONBIO)),
	ALLOW_IF("ioctl", ARG_EQ(1, TCGETS)),

	/*
	 * Threads (libmicrohttpd's workers, libcurl's resolver threads):
	 * clone(2) with thread flags only.  clone3(2) passes its flags in
	 * memory the filter cannot read, so it fails with ENOSYS and glibc
	 * falls back to clone(2).
	 */
	ALLOW_IF("clone", ARG_MASKED(0, CLONE_THREAD_FLAGS | CLONE_NEVER,
	    CLONE_THREAD_FLAGS)),
	FAIL_WITH("clone3", ENOSYS),
	ALLOW("set_robust_list"),
	ALLOW("rseq"),
	ALLOW("gettid"),
	ALLOW("sched_yield"),
	/* Thread names, set by each thread for itself. */
	ALLOW_IF("prctl", ARG_EQ(0, PR_SET_NAME)),
	ALLOW_IF("prctl", ARG_EQ(0, PR_GET_NAME)),
	/* Same as mprotect, for allocators that use protection keys. */
	ALLOW_IF("pkey_mprotect", NO_EXEC(2)),

	/* glibc's qsort(3) sizes its buffer by the machine's memory. */
	ALLOW("sysinfo"),
	/* libcurl's and OpenSSL's version strings and user agents. */
	ALLOW("uname"),
};

/* The broker only: libpq finds the default user and ~/.pgpass by uid. */
static const struct policy_rule broker_rules[] = {
	ALLOW("getuid"),
	ALLOW("geteuid"),
	ALLOW("getgid"),
	ALLOW("getegid"),
};

#define LIST(w, r)	{ .what = (w), .rules = (r), .nrules = NELEM(r) }

static const struct policy_list keyholder_lists[] = {
	LIST("base", base_rules),
	LIST("keyholder", keyholder_rules),
};
static const struct policy_list broker_lists[] = {
	LIST("base", base_rules),
	LIST("service", service_rules),
	LIST("broker", broker_rules),
};
static const struct policy_list gateway_lists[] = {
	LIST("base", base_rules),
	LIST("service", service_rules),
};

static const struct {
	const struct policy_list	*lists;
	size_t				 n;
} proc_lists[] = {
	[POLICY_KEYHOLDER] = { keyholder_lists, NELEM(keyholder_lists) },
	[POLICY_BROKER] = { broker_lists, NELEM(broker_lists) },
	[POLICY_GATEWAY] = { gateway_lists, NELEM(gateway_lists) },
};

const struct policy_list *
policy_lists(enum policy_proc proc, size_t *nlists)
{
	if ((size_t)proc >= NELEM(proc_lists) ||
	    proc_lists[proc].lists == NULL)
		return NULL;
	*nlists = proc_lists[proc].n;
	return proc_lists[proc].lists;
}
