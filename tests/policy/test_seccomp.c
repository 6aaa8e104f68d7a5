/*
 * Unit tests of policy/seccomp.c and the allow-lists of policy/rules.c.
 *
 * Every filter is loaded in a forked child.  Forbidden calls are made with
 * syscall(2) so that no C library or sanitizer wrapper changes what the
 * kernel sees; the parent then expects the child killed by SIGSYS.  The
 * positive children do what the real process does and end with _exit, so
 * that nothing but the listed calls runs under the filter, with or without
 * ASan.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <cmocka.h>

#include "common/log.h"
#include "policy/policy.h"
#include "policy/rules.h"
#include "tests/policy/tests.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define THREAD_FLAGS \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | \
	 CLONE_SYSVSEM)

/* What a child knows: its policy, its descriptors, what to do. */
struct sc_ctx {
	enum policy_proc	 proc;
	struct policy_fds	 fds;
	pid_t			 parent;	/* the test runner */
	int			 spare[2];	/* a pipe no filter lists */
	void			*page;		/* mapped read-write */
	const char		*logenv;	/* DROMOS_SECCOMP_LOG or NULL */
	int			 fork_child;	/* fds.child = a fresh child */
	void			(*call)(const struct sc_ctx *);
	int			(*run)(const struct sc_ctx *);
};

/* The keyholder's descriptors, made by the parent so it can check them. */
struct kh_env {
	int	 imsg[2];	/* [0] the keyholder's end */
	int	 audit;
	int	 auditdir;	/* O_PATH, for rotation */
	char	 dir[40];
	int	 log[2];
	int	 spare[2];
};

static void
kh_env_open(struct kh_env *e)
{
	char	 path[] = "/tmp/dromos-test-audit.XXXXXX";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    e->imsg), 0);
	assert_int_equal(pipe2(e->log, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e->spare, O_CLOEXEC), 0);
	e->audit = mkostemp(path, O_CLOEXEC | O_APPEND);
	assert_true(e->audit >= 0);
	assert_int_equal(unlink(path), 0);
	snprintf(e->dir, sizeof(e->dir), "/tmp/dromos-test-auditdir.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->auditdir = open(e->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(e->auditdir >= 0);
	/* Something to read on the imsg socket and on the spare pipe. */
	assert_int_equal(write(e->imsg[1], "pingpong", 8), 8);
	assert_int_equal(write(e->spare[1], "s", 1), 1);
}

static void
kh_env_close(struct kh_env *e)
{
	close(e->imsg[0]);
	close(e->imsg[1]);
	close(e->audit);
	(void)unlinkat(e->auditdir, "next.log", 0);
	close(e->auditdir);
	assert_int_equal(rmdir(e->dir), 0);
	close(e->log[0]);
	close(e->log[1]);
	close(e->spare[0]);
	close(e->spare[1]);
}

static void
ctx_init(struct sc_ctx *c, enum policy_proc proc, const struct kh_env *e)
{
	memset(c, 0, sizeof(*c));
	c->proc = proc;
	policy_fds_init(&c->fds);
	c->parent = getpid();
	c->spare[0] = e->spare[0];
	c->spare[1] = e->spare[1];
	if (proc == POLICY_KEYHOLDER) {
		c->fds.imsg = e->imsg[0];
		c->fds.audit = e->audit;
		c->fds.auditdir = e->auditdir;
		c->fds.log = e->log[1];
	}
}

/* The child: load the filter, then do c->call or c->run. */
static int
sc_child(void *arg, int outfd)
{
	struct sc_ctx	*c = arg;
	pid_t		 pid;

	close(outfd);
	if (c->logenv != NULL && setenv("DROMOS_SECCOMP_LOG", c->logenv, 1))
		return 101;
	if (c->fork_child) {
		if ((pid = fork()) == -1)
			return 102;
		if (pid == 0)
			_exit(0);
		c->fds.child = pid;
	}
	c->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->page == MAP_FAILED)
		return 103;
	if (policy_seccomp_load(c->proc, &c->fds) == -1)
		return 100;
	if (c->run != NULL)
		return c->run(c);
	c->call(c);
	return 0;	/* survived */
}

static int
sc_run(struct sc_ctx *c)
{
	return child_run(sc_child, c, NULL, 0);
}

static void
assert_killed(int status, const char *proc, const char *what)
{
	char	 buf[64];

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("%s filter: %s was not killed by SIGSYS (%s)", proc,
		    what, child_status(status, buf, sizeof(buf)));
}

static void
assert_exit0(int status, const char *proc, const char *what)
{
	char	 buf[64];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s filter: %s failed (%s)", proc, what,
		    child_status(status, buf, sizeof(buf)));
}

/*
 * Calls outside the lists.  If one were allowed it must be harmless here,
 * and the child then exits 0, which fails the test.
 */
static void
f_execve(const struct sc_ctx *c)
{
	char	*argv[] = { "true", NULL }, *envp[] = { NULL };

	(void)c;
	syscall(SYS_execve, "/bin/true", argv, envp);
}

static void
f_fork(const struct sc_ctx *c)
{
	(void)c;
	if (syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL) == 0)
		_exit(0);
}

static void
f_clone3(const struct sc_ctx *c)
{
	uint64_t	 args[8] = { 0 };	/* struct clone_args, v0 */

	(void)c;
	args[4] = SIGCHLD;			/* exit_signal: a fork */
	if (syscall(SYS_clone3, args, sizeof(args)) == 0)
		_exit(0);
}

static void
f_clone_newuser(const struct sc_ctx *c)
{
	(void)c;
	/* The kernel itself refuses this pair; the filter must come first. */
	syscall(SYS_clone, (unsigned long)(THREAD_FLAGS | CLONE_NEWUSER),
	    0UL, 0UL, 0UL, 0UL);
}

static void
f_clone_ptrace(const struct sc_ctx *c)
{
	(void)c;
	if (syscall(SYS_clone, (unsigned long)(SIGCHLD | CLONE_PTRACE), 0UL,
	    0UL, 0UL, 0UL) == 0)
		_exit(0);
}

static void
f_openat_rd(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static void
f_openat_wr(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
}

static void
f_openat_rdwr(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
}

static void
f_openat_creat(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CREAT, 0600);
}

static void
f_openat_trunc(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_TRUNC);
}

/* The audit directory, but not the one way a rotation opens a file. */
static void
f_openat_auditdir_trunc(const struct sc_ctx *c)
{
	syscall(SYS_openat, c->fds.auditdir, "next.log",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static void
f_openat_auditdir_rdonly(const struct sc_ctx *c)
{
	syscall(SYS_openat, c->fds.auditdir, "next.log", O_RDONLY);
}

static void
f_openat_auditdir_mode(const struct sc_ctx *c)
{
	syscall(SYS_openat, c->fds.auditdir, "next.log",
	    POLICY_AUDIT_OPEN_FLAGS, 0644);
}

/* The rotation's flags, from another directory. */
static void
f_openat_cwd_rotation(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_openat, AT_FDCWD, "/tmp/dromos-test-never",
	    POLICY_AUDIT_OPEN_FLAGS, POLICY_AUDIT_OPEN_MODE);
}

static void
f_dup3_onto_imsg(const struct sc_ctx *c)
{
	syscall(SYS_dup3, c->spare[0], c->fds.imsg, O_CLOEXEC);
}

static void
f_dup2_onto_audit(const struct sc_ctx *c)
{
	syscall(SYS_dup2, c->spare[0], c->fds.audit);
}

static void
f_write_spare(const struct sc_ctx *c)
{
	syscall(SYS_write, c->spare[1], "x", 1);
}

static void
f_read_spare(const struct sc_ctx *c)
{
	char	 b;

	syscall(SYS_read, c->spare[0], &b, 1);
}

static void
f_sendmsg_spare(const struct sc_ctx *c)
{
	struct msghdr	 mh;

	memset(&mh, 0, sizeof(mh));
	syscall(SYS_sendmsg, c->spare[1], &mh, 0);
}

static void
f_fsync_spare(const struct sc_ctx *c)
{
	syscall(SYS_fsync, c->spare[1]);
}

static void
f_mmap_exec(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_mmap, NULL, 4096UL, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
}

static void
f_mmap_rwx(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_mmap, NULL, 4096UL, PROT_READ | PROT_WRITE | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
}

static void
f_mprotect_exec(const struct sc_ctx *c)
{
	syscall(SYS_mprotect, c->page, 4096UL, PROT_READ | PROT_EXEC);
}

static void
f_pkey_mprotect_exec(const struct sc_ctx *c)
{
	syscall(SYS_pkey_mprotect, c->page, 4096UL, PROT_READ | PROT_EXEC, -1);
}

static void
f_socket_unix(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

static void
f_socket_unix_dgram(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
}

static void
f_socket_inet(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void
f_socket_packet(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
}

static void
f_socket_raw(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP);
}

static void
f_socket_nl_audit(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}

static void
f_connect(const struct sc_ctx *c)
{
	syscall(SYS_connect, c->fds.imsg, NULL, 0);
}

static void
f_kill_parent(const struct sc_ctx *c)
{
	syscall(SYS_kill, c->parent, 0);
}

static void
f_kill_group(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_kill, 0, 0);
}

static void
f_kill_all(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_kill, -1, 0);
}

static void
f_tgkill_parent(const struct sc_ctx *c)
{
	syscall(SYS_tgkill, c->parent, c->parent, 0);
}

static void
f_ptrace(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL);
}

static void
f_mount(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_mount, "none", "/nonexistent-dromos-test", "tmpfs", 0UL,
	    NULL);
}

static void
f_unshare(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_unshare, CLONE_NEWUSER);
}

static void
f_setuid(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_setuid, 0);
}

static void
f_prctl_dumpable(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_prctl, PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
}

static void
f_prctl_name(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_prctl, PR_SET_NAME, "x", 0UL, 0UL, 0UL);
}

static void
f_ioctl_tiocsti(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_ioctl, -1, TIOCSTI, "x");
}

static void
f_ioctl_fionread(const struct sc_ctx *c)
{
	int	 n;

	syscall(SYS_ioctl, c->fds.imsg, FIONREAD, &n);
}

static void
f_fcntl_dupfd(const struct sc_ctx *c)
{
	syscall(SYS_fcntl, c->spare[0], F_DUPFD, 10);
}

static void
f_geteuid(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_geteuid);
}

static void
f_getppid(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_getppid);
}

static void
f_uname(const struct sc_ctx *c)
{
	struct utsname	 u;

	(void)c;
	syscall(SYS_uname, &u);
}

static void
f_pipe2(const struct sc_ctx *c)
{
	int	 p[2];

	(void)c;
	syscall(SYS_pipe2, p, O_CLOEXEC);
}

static void
f_bpf(const struct sc_ctx *c)
{
	(void)c;
	syscall(SYS_bpf, 0, NULL, 0U);
}

#define KH	(1u << POLICY_KEYHOLDER)
#define BR	(1u << POLICY_BROKER)
#define GW	(1u << POLICY_GATEWAY)
#define ANY	(KH | BR | GW)

static const struct {
	const char	*what;
	void		(*call)(const struct sc_ctx *);
	unsigned int	 procs;		/* the filters that must kill it */
} forbidden[] = {
	{ "execve", f_execve, ANY },
	{ "fork (clone with SIGCHLD)", f_fork, ANY },
	{ "clone3 fork", f_clone3, KH },
	{ "clone thread|CLONE_NEWUSER", f_clone_newuser, ANY },
	{ "clone CLONE_PTRACE", f_clone_ptrace, ANY },
	{ "openat O_RDONLY", f_openat_rd, KH },
	{ "openat O_WRONLY", f_openat_wr, ANY },
	{ "openat O_RDWR", f_openat_rdwr, ANY },
	{ "openat O_CREAT", f_openat_creat, ANY },
	{ "openat O_TRUNC", f_openat_trunc, ANY },
	{ "openat audit dir O_TRUNC", f_openat_auditdir_trunc, KH },
	{ "openat audit dir O_RDONLY", f_openat_auditdir_rdonly, KH },
	{ "openat audit dir mode 0644", f_openat_auditdir_mode, KH },
	{ "openat rotation flags elsewhere", f_openat_cwd_rotation, KH },
	{ "dup3 onto the imsg fd", f_dup3_onto_imsg, KH },
	{ "dup2 onto the audit fd", f_dup2_onto_audit, KH },
	{ "write on an unlisted fd", f_write_spare, KH },
	{ "read on an unlisted fd", f_read_spare, KH },
	{ "sendmsg on an unlisted fd", f_sendmsg_spare, KH },
	{ "fsync on an unlisted fd", f_fsync_spare, KH },
	{ "mmap PROT_EXEC", f_mmap_exec, ANY },
	{ "mmap PROT_READ|WRITE|EXEC", f_mmap_rwx, ANY },
	{ "mprotect PROT_EXEC", f_mprotect_exec, ANY },
	{ "pkey_mprotect PROT_EXEC", f_pkey_mprotect_exec, ANY },
	{ "socket AF_UNIX", f_socket_unix, KH },
	{ "socket AF_UNIX SOCK_DGRAM", f_socket_unix_dgram, ANY },
	{ "socket AF_INET", f_socket_inet, KH },
	{ "socket AF_PACKET", f_socket_packet, ANY },
	{ "socket AF_INET SOCK_RAW", f_socket_raw, ANY },
	{ "socket AF_NETLINK NETLINK_AUDIT", f_socket_nl_audit, ANY },
	{ "connect", f_connect, KH },
	{ "kill of the parent", f_kill_parent, ANY },
	{ "kill of the process group", f_kill_group, ANY },
	{ "kill of every process", f_kill_all, ANY },
	{ "tgkill of another process", f_tgkill_parent, ANY },
	{ "ptrace", f_ptrace, ANY },
	{ "mount", f_mount, ANY },
	{ "unshare", f_unshare, ANY },
	{ "setuid", f_setuid, ANY },
	{ "prctl PR_SET_DUMPABLE", f_prctl_dumpable, ANY },
	{ "prctl PR_SET_NAME", f_prctl_name, KH },
	{ "ioctl TIOCSTI", f_ioctl_tiocsti, ANY },
	{ "ioctl FIONREAD", f_ioctl_fionread, KH },
	{ "fcntl F_DUPFD", f_fcntl_dupfd, ANY },
	{ "geteuid", f_geteuid, KH | GW },
	{ "getppid", f_getppid, ANY },
	{ "uname", f_uname, KH },
	{ "pipe2", f_pipe2, KH },
	{ "bpf", f_bpf, ANY },
};

static void
forbidden_calls(enum policy_proc proc)
{
	struct kh_env	 e;
	struct sc_ctx	 c;
	size_t		 i, n = 0;

	kh_env_open(&e);
	for (i = 0; i < NELEM(forbidden); i++) {
		if ((forbidden[i].procs & (1u << proc)) == 0)
			continue;
		ctx_init(&c, proc, &e);
		c.call = forbidden[i].call;
		assert_killed(sc_run(&c), policy_proc_name(proc),
		    forbidden[i].what);
		n++;
	}
	kh_env_close(&e);
	assert_true(n > 10);
}

static void
test_keyholder_forbidden(void **state)
{
	(void)state;
	forbidden_calls(POLICY_KEYHOLDER);
}

static void
test_broker_forbidden(void **state)
{
	(void)state;
	forbidden_calls(POLICY_BROKER);
}

static void
test_gateway_forbidden(void **state)
{
	(void)state;
	forbidden_calls(POLICY_GATEWAY);
}

/*
 * What dromosd does after its filter: the imsg channel both ways, the audit
 * log, the diagnostic log, randomness, time, key memory, its child.
 */
static int
kh_allowed(const struct sc_ctx *c)
{
	char		 buf[8], hello[] = "hello", world[] = "world";
	struct iovec	 iov;
	struct msghdr	 mh;
	struct pollfd	 pfd;
	struct timespec	 ts, nap = { 0, 1000000 };
	struct sigaction sa;
	sigset_t	 set;
	unsigned char	 rnd[32];
	char		*big;
	void		*p;
	int		 st;

	if (read(c->fds.imsg, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0)
		return 10;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = 4;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (recvmsg(c->fds.imsg, &mh, 0) != 4 || memcmp(buf, "pong", 4) != 0)
		return 11;
	pfd.fd = c->fds.imsg;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) != 1)
		return 12;
	if (write(c->fds.imsg, hello, 5) != 5)
		return 13;
	iov.iov_base = world;
	iov.iov_len = 5;
	if (sendmsg(c->fds.imsg, &mh, 0) != 5)
		return 14;

	if (write(c->fds.audit, "line\n", 5) != 5 || fsync(c->fds.audit) != 0 ||
	    fdatasync(c->fds.audit) != 0)
		return 20;
	if (write(c->fds.log, "log\n", 4) != 4)
		return 21;
	/* Rotation: a new file in the directory takes the fd's number. */
	if ((st = openat(c->fds.auditdir, "next.log", POLICY_AUDIT_OPEN_FLAGS,
	    POLICY_AUDIT_OPEN_MODE)) == -1 ||
	    dup3(st, c->fds.audit, O_CLOEXEC) != c->fds.audit ||
	    close(st) != 0 || write(c->fds.audit, "next\n", 5) != 5 ||
	    fdatasync(c->fds.audit) != 0)
		return 22;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return 30;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
		return 31;
	if (nanosleep(&nap, NULL) != 0 ||
	    clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, NULL) != 0)
		return 32;

	/* Large blocks come from mmap, small ones from brk. */
	if ((big = malloc(64u << 20)) == NULL)
		return 40;
	memset(big, 0xa5, 64u << 20);
	free(big);
	if ((big = malloc(100)) == NULL)
		return 41;
	free(big);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 42;
	if (mlock(p, 8192) != 0 || madvise(p, 8192, MADV_DONTDUMP) != 0 ||
	    munlock(p, 8192) != 0 || mprotect(p, 4096, PROT_NONE) != 0 ||
	    munmap(p, 8192) != 0)
		return 43;

	if (kill(c->fds.child, 0) != 0)
		return 50;
	if (waitpid(c->fds.child, &st, 0) != c->fds.child)
		return 51;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return 60;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return 61;
	if (getpid() <= 0)
		return 62;
	if (close(c->spare[0]) != 0)
		return 70;
	return 0;
}

/* Everything the keyholder child wrote arrived where it should. */
static void
kh_check_output(const struct kh_env *e)
{
	char	 buf[64];
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	while ((n = recv(e->imsg[1], buf + len, sizeof(buf) - 1 - len,
	    MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	assert_string_equal(buf, "helloworld");
	n = pread(e->audit, buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, 5);
	buf[n] = '\0';
	assert_string_equal(buf, "line\n");
	n = read(e->log[0], buf, sizeof(buf) - 1);
	assert_int_equal(n, 4);
	buf[n] = '\0';
	assert_string_equal(buf, "log\n");
	fd = openat(e->auditdir, "next.log", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, 5);
	buf[n] = '\0';
	assert_string_equal(buf, "next\n");
}

static void
test_keyholder_allowed(void **state)
{
	struct kh_env	 e;
	struct sc_ctx	 c;

	(void)state;
	kh_env_open(&e);
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.fork_child = 1;
	c.run = kh_allowed;
	assert_exit0(sc_run(&c), "keyholder", "its own calls");
	kh_check_output(&e);
	kh_env_close(&e);
}

/* Without run-time values, the rules that need them are left out. */
static void
test_keyholder_no_fds(void **state)
{
	struct kh_env	 e;
	struct sc_ctx	 c;

	(void)state;
	kh_env_open(&e);
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.fds.child = 0;
	c.call = f_kill_group;
	/* kill(0, sig) must not slip through a rule with no pid. */
	assert_killed(sc_run(&c), "keyholder", "kill(0) without a child");
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.fds.audit = -1;
	c.spare[1] = e.audit;		/* the audit fd, now unlisted */
	c.call = f_write_spare;
	assert_killed(sc_run(&c), "keyholder", "write without an audit fd");
	kh_env_close(&e);
}

/*
 * Under ASan, pthread_create's interceptor sets the new thread up with
 * calls no list allows (sched_getaffinity of a tid, sigaltstack): there the
 * thread rule is checked with a bare clone(2) only.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN	1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN	0
#endif

#if !TEST_ASAN
static void *
thread_main(void *arg)
{
	char	*p;

	/* A thread's first malloc creates its arena. */
	if ((p = malloc(100)) != NULL) {
		memset(p, 0, 100);
		free(p);
		*(int *)arg = 42;
	}
	return arg;
}
#endif

/* A thread made the way glibc makes one, on a stack of our own. */
static char		 thread_stack[64 * 1024] __attribute__((aligned(16)));
static const char	 thread_byte = 't';

static int
raw_thread(void *arg)
{
	syscall(SYS_write, *(const int *)arg, &thread_byte, 1);
	return 0;
}

static int
svc_threads(void)
{
	uint64_t	 cargs[8] = { 0 };
	int		 p[2];
	char		 b;
#if !TEST_ASAN
	pthread_t	 t;
	void		*ret;
	int		 v = 0;

	if (pthread_create(&t, NULL, thread_main, &v) != 0 ||
	    pthread_join(t, &ret) != 0 || v != 42 || ret != &v)
		return 10;
#endif
	if (pipe2(p, O_CLOEXEC) != 0)
		return 11;
	if (clone(raw_thread, thread_stack + sizeof(thread_stack),
	    THREAD_FLAGS, &p[1]) == -1)
		return 12;
	if (read(p[0], &b, 1) != 1 || b != thread_byte)
		return 13;
	close(p[0]);
	close(p[1]);
	/* clone3 fails softly so that glibc falls back to clone. */
	cargs[4] = SIGCHLD;
	if (syscall(SYS_clone3, cargs, sizeof(cargs)) != -1 || errno != ENOSYS)
		return 14;
	return 0;
}

static int
svc_net(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 ls, cs, as, one = 1, err;
	char			 buf[4];

	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 20;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(ls, 4) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sin, &len) != 0)
		return 21;
	if ((cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(cs, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return 22;
	if ((as = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return 23;
	if (send(cs, "hi", 2, 0) != 2 || recv(as, buf, 2, 0) != 2 ||
	    memcmp(buf, "hi", 2) != 0)
		return 24;
	len = sizeof(sin);
	if (getpeername(as, (struct sockaddr *)&sin, &len) != 0 ||
	    shutdown(cs, SHUT_WR) != 0)
		return 25;
	len = sizeof(err);
	if (getsockopt(cs, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		return 26;
	close(as);
	close(cs);
	close(ls);
	return 0;
}

static int
svc_sockets(void)
{
	struct addrinfo		 hints, *res;
	struct msghdr		 mh;
	struct iovec		 iov;
	char			 b[2] = "x";
	int			 s, sp[2];

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return 30;
	close(s);
	if ((s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 &&
	    errno != EAFNOSUPPORT)
		return 31;
	if (s != -1)
		close(s);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
		return 32;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = b;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (sendmsg(sp[0], &mh, 0) != 1 || recvmsg(sp[1], &mh, 0) != 1)
		return 33;
	close(sp[0]);
	close(sp[1]);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 34;
	close(s);
	if ((s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_ROUTE)) == -1)
		return 35;
	close(s);
	/*
	 * Warmed up before the filter, as policy.h asks.  Without hints,
	 * glibc asks NETLINK_ROUTE which address families are configured.
	 */
	if (getaddrinfo("localhost", "443", NULL, &res) != 0)
		return 36;
	freeaddrinfo(res);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_ADDRCONFIG;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "443", &hints, &res) != 0)
		return 37;
	freeaddrinfo(res);
	return 0;
}

static int
svc_files(void)
{
	struct stat	 sb;
	char		 buf[64];
	FILE		*fp;
	int		 fd;

	if ((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)) == -1)
		return 40;
	if (read(fd, buf, sizeof(buf)) < 0 || fstat(fd, &sb) != 0 ||
	    lseek(fd, 0, SEEK_SET) != 0 || stat("/etc/hosts", &sb) != 0)
		return 41;
	close(fd);
	if ((fp = fopen("/etc/hosts", "re")) == NULL)
		return 42;
	if (fgets(buf, sizeof(buf), fp) == NULL)
		return 43;
	fclose(fp);
	return 0;
}

static int
svc_events(void)
{
	struct epoll_event	 ev;
	struct timespec		 zero = { 0, 0 };
	struct timeval		 tv = { 0, 0 };
	fd_set			 rfds;
	uint64_t		 one = 1;
	int			 ep, efd, p[2], n, fl;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		return 50;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0 ||
	    write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one) ||
	    epoll_wait(ep, &ev, 1, 0) != 1)
		return 51;
	if (pipe2(p, O_CLOEXEC) != 0)
		return 52;
	if ((fl = fcntl(p[0], F_GETFL)) == -1 ||
	    fcntl(p[0], F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0)
		return 53;
	if (ioctl(p[0], FIONREAD, &n) != 0 || n != 0)
		return 54;
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	if (select(p[0] + 1, &rfds, NULL, NULL, &tv) != 0 ||
	    pselect(p[0] + 1, &rfds, NULL, NULL, &zero, NULL) != 0)
		return 55;
	close(p[0]);
	close(p[1]);
	close(efd);
	close(ep);
	return 0;
}

/*
 * What the broker and the gateway do after their filter: threads, TCP and
 * unix sockets, the resolver, read-only files, event loops.
 */
static int
svc_allowed(const struct sc_ctx *c)
{
	struct utsname	 u;
	struct sysinfo	 si;
	void		*p;
	char		*big;
	int		 rc;

	if ((rc = svc_threads()) != 0 || (rc = svc_net()) != 0 ||
	    (rc = svc_sockets()) != 0 ||
	    (rc = svc_files()) != 0 || (rc = svc_events()) != 0)
		return rc;
	if (prctl(PR_SET_NAME, "dromos-test", 0UL, 0UL, 0UL) != 0 ||
	    uname(&u) != 0 || sysinfo(&si) != 0 || sched_yield() != 0)
		return 60;
	if (syscall(SYS_tgkill, getpid(), gettid(), 0) != 0)
		return 61;
	if ((big = malloc(64u << 20)) == NULL)
		return 70;
	memset(big, 0x5a, 64u << 20);
	free(big);
	if ((p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED ||
	    mprotect(p, 4096, PROT_READ) != 0)
		return 71;
	if (syscall(SYS_pkey_mprotect, p, 4096UL, PROT_READ, -1) != 0 &&
	    errno != ENOSYS)
		return 72;
	munmap(p, 4096);
	if (c->proc == POLICY_BROKER && geteuid() == (uid_t)-1)
		return 80;
	return 0;
}

static void
service_allowed(enum policy_proc proc)
{
	struct kh_env	 e;
	struct sc_ctx	 c;
	struct addrinfo	*res;

	/* The resolver's first run loads what it needs (see policy.h). */
	assert_int_equal(getaddrinfo("localhost", "443", NULL, &res), 0);
	freeaddrinfo(res);
	kh_env_open(&e);
	ctx_init(&c, proc, &e);
	c.run = svc_allowed;
	assert_exit0(sc_run(&c), policy_proc_name(proc), "its own calls");
	kh_env_close(&e);
}

static void
test_broker_allowed(void **state)
{
	(void)state;
	service_allowed(POLICY_BROKER);
}

static void
test_gateway_allowed(void **state)
{
	(void)state;
	service_allowed(POLICY_GATEWAY);
}

/* DROMOS_SECCOMP_LOG=1 logs instead of killing; nothing else does. */
static void
test_log_knob(void **state)
{
	struct kh_env	 e;
	struct sc_ctx	 c;

	(void)state;
	kh_env_open(&e);
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.logenv = "1";
	c.call = f_getppid;
	assert_exit0(sc_run(&c), "keyholder", "getppid with "
	    "DROMOS_SECCOMP_LOG=1");
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.logenv = "yes";
	c.call = f_getppid;
	assert_killed(sc_run(&c), "keyholder", "getppid with "
	    "DROMOS_SECCOMP_LOG=yes");
	ctx_init(&c, POLICY_KEYHOLDER, &e);
	c.logenv = "0";
	c.call = f_getppid;
	assert_killed(sc_run(&c), "keyholder", "getppid with "
	    "DROMOS_SECCOMP_LOG=0");
	kh_env_close(&e);
}

/* A list of our own: an unknown name is skipped, not fatal. */
static const struct policy_rule tiny_rules[] = {
	ALLOW("exit_group"),
	ALLOW("no_such_syscall_dromos"),
	ALLOW_IF("write", ARG_IS(0, RV_LOG)),
};
static const struct policy_list tiny[] = {
	{ "tiny", tiny_rules, NELEM(tiny_rules) },
};

static int
tiny_child(void *arg, int outfd)
{
	struct policy_fds	 fds;
	int			 kill_after = *(int *)arg;

	policy_fds_init(&fds);
	fds.log = outfd;
	if (policy_seccomp_load_lists(tiny, NELEM(tiny), &fds) == -1)
		return 100;
	if (write(outfd, "ok", 2) != 2)
		return 101;
	if (kill_after)
		syscall(SYS_getpid);
	return 0;
}

static void
test_unknown_name_skipped(void **state)
{
	char	 out[16];
	int	 kill_after = 0;

	(void)state;
	assert_exit0(child_run(tiny_child, &kill_after, out, sizeof(out)),
	    "tiny", "load with an unknown name");
	assert_string_equal(out, "ok");
	kill_after = 1;
	assert_killed(child_run(tiny_child, &kill_after, out, sizeof(out)),
	    "tiny", "getpid");
	assert_string_equal(out, "ok");
}

static void
test_bad_proc(void **state)
{
	size_t	 n;

	(void)state;
	/* Refused before anything is loaded, so safe in this process. */
	assert_int_equal(policy_seccomp_load((enum policy_proc)7, NULL), -1);
	assert_null(policy_lists((enum policy_proc)7, &n));
	assert_string_equal(policy_proc_name(POLICY_GATEWAY), "gateway");
	assert_string_equal(policy_proc_name((enum policy_proc)7), "unknown");
}

/* True when name has a rule in proc's filter. */
static int
listed(enum policy_proc proc, const char *name)
{
	const struct policy_list	*l;
	size_t				 nl, i, j;

	assert_non_null(l = policy_lists(proc, &nl));
	for (i = 0; i < nl; i++)
		for (j = 0; j < l[i].nrules; j++)
			if (strcmp(l[i].rules[j].name, name) == 0)
				return 1;
	return 0;
}

/* A typo in a list would silently drop a rule: every name must resolve. */
static void
test_names_resolve(void **state)
{
	const struct policy_list	*l;
	enum policy_proc		 p;
	size_t				 nl, i, j;

	(void)state;
#if !defined(__x86_64__)
	skip();
#endif
	for (p = POLICY_KEYHOLDER; p <= POLICY_GATEWAY; p++) {
		assert_non_null(l = policy_lists(p, &nl));
		for (i = 0; i < nl; i++)
			for (j = 0; j < l[i].nrules; j++)
				if (seccomp_syscall_resolve_name(
				    l[i].rules[j].name) < 0)
					fail_msg("%s: unknown system call %s",
					    l[i].what, l[i].rules[j].name);
	}
}

/* A rule's condition on one argument, or NULL. */
static const struct rule_cmp *
cond(const struct policy_rule *r, unsigned int arg)
{
	size_t	 i;

	for (i = 0; i < RULE_MAXCMP && r->cmp[i].op != 0; i++)
		if (r->cmp[i].arg == arg)
			return &r->cmp[i];
	return NULL;
}

/*
 * The keyholder opens one kind of file only: a new audit log in the audit
 * directory, with the rotation's exact flags and mode (policy.h).
 */
static int
keyholder_openat_is_rotation(void)
{
	const struct policy_list	*l;
	const struct policy_rule	*r;
	const struct rule_cmp		*d, *f, *m;
	size_t				 nl, i, j, n = 0;

	assert_non_null(l = policy_lists(POLICY_KEYHOLDER, &nl));
	for (i = 0; i < nl; i++)
		for (j = 0; j < l[i].nrules; j++) {
			r = &l[i].rules[j];
			if (strcmp(r->name, "openat") != 0)
				continue;
			n++;
			d = cond(r, 0);
			f = cond(r, 2);
			m = cond(r, 3);
			if (r->fail_errno != 0 || d == NULL ||
			    d->from != RV_AUDITDIR || f == NULL ||
			    f->op != SCMP_CMP_EQ || f->from != RV_CONST ||
			    f->datum != POLICY_AUDIT_OPEN_FLAGS || m == NULL ||
			    m->op != SCMP_CMP_EQ ||
			    m->datum != POLICY_AUDIT_OPEN_MODE)
				return 0;
		}
	return n == 1;
}

/* Calls no list may ever contain, and those the keyholder must not. */
static void
test_never_listed(void **state)
{
	static const char *const never[] = {
		"execve", "execveat", "fork", "vfork", "ptrace", "mount",
		"umount2", "pivot_root", "chroot", "unshare", "setns",
		"setuid", "setgid", "setresuid", "setresgid", "setgroups",
		"capset", "init_module", "finit_module", "delete_module",
		"kexec_load", "kexec_file_load", "bpf", "perf_event_open",
		"process_vm_readv", "process_vm_writev", "userfaultfd",
		"open_by_handle_at", "keyctl", "add_key", "request_key",
		"personality", "reboot", "swapon", "acct", "iopl", "ioperm",
		"open", "creat", "memfd_create", "pidfd_getfd", "seccomp",
	};
	static const char *const not_keyholder[] = {
		"socket", "socketpair", "connect", "accept",
		"accept4", "bind", "clone", "clone3", "ioctl", "prctl",
		"pipe2",
	};
	enum policy_proc	 p;
	size_t			 i;

	(void)state;
	for (p = POLICY_KEYHOLDER; p <= POLICY_GATEWAY; p++)
		for (i = 0; i < NELEM(never); i++)
			if (listed(p, never[i]))
				fail_msg("%s lists %s", policy_proc_name(p),
				    never[i]);
	for (i = 0; i < NELEM(not_keyholder); i++)
		if (listed(POLICY_KEYHOLDER, not_keyholder[i]))
			fail_msg("keyholder lists %s", not_keyholder[i]);
	assert_true(keyholder_openat_is_rotation());
	/* And the lists are not empty: this test can see them. */
	assert_true(listed(POLICY_KEYHOLDER, "read"));
	assert_true(listed(POLICY_BROKER, "openat"));
	assert_false(listed(POLICY_GATEWAY, "geteuid"));
}

int
run_seccomp_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_resolve),
		cmocka_unit_test(test_never_listed),
		cmocka_unit_test(test_bad_proc),
		cmocka_unit_test(test_unknown_name_skipped),
		cmocka_unit_test(test_keyholder_allowed),
		cmocka_unit_test(test_keyholder_forbidden),
		cmocka_unit_test(test_keyholder_no_fds),
		cmocka_unit_test(test_broker_allowed),
		cmocka_unit_test(test_broker_forbidden),
		cmocka_unit_test(test_gateway_allowed),
		cmocka_unit_test(test_gateway_forbidden),
		cmocka_unit_test(test_log_knob),
	};

	return cmocka_run_group_tests_name("policy/seccomp", tests, NULL,
	    NULL);
}
