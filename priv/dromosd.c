/*
 * dromosd: the keyholder.  It alone holds the root key and the data keys;
 * it is the parent of dromos-broker, which reaches keys only by asking over
 * an imsg socketpair.
 *
 * Start-up order matters and follows the design: read the configuration,
 * obtain the root key, open the audit log, create the socketpair, fork and
 * exec the broker (a fresh image: no key byte crosses), then drop to the
 * keyholder's user, clear capabilities, harden the process, lock key
 * memory, warm up OpenSSL and enter the seccomp filter.  After that it never
 * forks and never opens a file.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "imsg/imsg.h"
#include "policy/policy.h"
#include "priv/aead.h"
#include "priv/audit.h"
#include "priv/auditkey.h"
#include "priv/config.h"
#include "priv/keyholder.h"
#include "priv/khproto.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"
#include "priv/tpm.h"

/* SEAL and OPEN requests a second the keyholder answers at most. */
#define KH_RATE_DEFAULT	200000

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: dromosd [-dnv] [-f file]\n");
	exit(1);
}

/* Read a whole small file opened before the sandbox (the TPM blob). */
static uint8_t *
read_small_file(const char *path, size_t max, size_t *lenp)
{
	struct stat	 st;
	uint8_t		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;
	char		 err[256];

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fatal("%s", path);
	if (config_check_file_secrecy(fd, path, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (fstat(fd, &st) == -1)
		fatal("%s", path);
	if (st.st_size <= 0 || (size_t)st.st_size > max)
		fatalx("%s: size %lld out of range", path,
		    (long long)st.st_size);
	if ((buf = malloc((size_t)st.st_size)) == NULL)
		fatal(NULL);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0)
			fatal("%s: read", path);
		off += (size_t)n;
	}
	close(fd);
	*lenp = off;
	return buf;
}

/*
 * A configured PCR selection is a promise about the blob: refuse a blob
 * sealed under another policy (or none) rather than silently accept it.
 */
static void
check_blob_pcrs(const struct dromos_conf *conf, const uint8_t *blob,
    size_t len)
{
#ifdef HAVE_TSS2
	struct tpm_blob		 b;
	struct tpm_pcr_sel	 want;
	char			 err[256], have[128], wanted[128];

	if (conf->tpm_pcrs == NULL)
		return;
	if (tpm_pcr_parse(conf->tpm_pcrs, &want, err, sizeof(err)) != 0)
		fatalx("pcrs \"%s\": %s", conf->tpm_pcrs, err);
	if (tpm_blob_parse(blob, len, &b, err, sizeof(err)) != TPMKEY_OK)
		fatalx("%s: %s", conf->rootkey_path, err);
	if (b.pcrs.mask != want.mask)
		fatalx("%s: sealed to PCRs %s, but dromos.conf asks for %s",
		    conf->rootkey_path, tpm_pcr_format(&b.pcrs, have,
		    sizeof(have)), tpm_pcr_format(&want, wanted,
		    sizeof(wanted)));
	explicit_bzero(&b, sizeof(b));
#else
	(void)conf;
	(void)blob;
	(void)len;
#endif
}

static uint8_t *
load_rootkey(const struct dromos_conf *conf)
{
	uint8_t		*key, *blob;
	size_t		 len;
	int		 rv;

	if ((key = secmem_alloc(AEAD_KEYLEN)) == NULL)
		fatal("secmem_alloc");
	switch (conf->rootkey) {
	case ROOTKEY_FILE:
		if (rootkey_read_file(conf->rootkey_path, key) == -1)
			fatalx("cannot use root key file %s",
			    conf->rootkey_path);
		break;
	case ROOTKEY_TPM:
		blob = read_small_file(conf->rootkey_path, TPM_BLOB_MAX, &len);
		check_blob_pcrs(conf, blob, len);
		rv = tpm_unseal_rootkey(conf->tpm_tcti ? conf->tpm_tcti :
		    TPM_TCTI_DEFAULT, blob, len, key);
		free(blob);
		if (rv != TPMKEY_OK)
			fatalx("cannot unseal the root key from %s: %s",
			    conf->rootkey_path, tpm_strerror(rv));
		break;
	default:
		fatalx("no root key configured");
	}
	return key;
}

/*
 * The audit log is private: a regular file, mode 600 or stricter, owned by
 * root (made here before the drop), by us, or by the keyholder's user,
 * who makes the next log when the log is rotated.
 */
static void
check_audit_file(int fd, const char *path, const char *khuser)
{
	struct passwd	*pw;
	struct stat	 st;

	if (fstat(fd, &st) == -1)
		fatal("audit log %s", path);
	if (!S_ISREG(st.st_mode))
		fatalx("audit log %s: not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid() && (geteuid() != 0 ||
	    (pw = getpwnam(khuser)) == NULL || pw->pw_uid != st.st_uid))
		fatalx("audit log %s: owned by uid %lu, not by root, uid %lu "
		    "or the user %s", path, (unsigned long)st.st_uid,
		    (unsigned long)geteuid(), khuser);
	if (st.st_mode & 077)
		fatalx("audit log %s: mode %04o lets group or others in "
		    "(chmod 600 it)", path, (unsigned int)(st.st_mode & 07777));
}

/* Open the audit log for appending, and a reader to continue its chain. */
static int
open_audit(const char *path, const char *khuser, int *rfd)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		fatal("audit log %s", path);
	check_audit_file(fd, path, khuser);
	if ((*rfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fatal("audit log %s", path);
	return fd;
}

/*
 * The audit log's directory, held for rotation (the keyholder creates the
 * next log there: keyholder.h), and the log's name in it.
 */
static int
open_auditdir(const char *path, char **namep)
{
	const char	*slash = strrchr(path, '/');	/* absolute: config */
	char		*dir;
	int		 fd;

	if (slash == NULL || slash[1] == '\0' ||
	    strlen(slash + 1) > NAME_MAX)
		fatalx("audit log %s: not a file name", path);
	if ((dir = strndup(path, slash == path ? 1 :
	    (size_t)(slash - path))) == NULL ||
	    (*namep = strdup(slash + 1)) == NULL)
		fatal("strdup");
	if ((fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("audit log directory %s", dir);
	free(dir);
	return fd;
}

/*
 * The broker starts with an empty environment.  Only a sanitizer build
 * (the test suite's, never installed) hands on what the sanitizers'
 * run-time reads and the seccomp log switch, so that its broker is as
 * observable as its dromosd.
 */
static void
broker_env(char **envp, size_t n)
{
#ifdef DROMOS_SANITIZE
	static const char *const pass[] = {
		"ASAN_OPTIONS", "UBSAN_OPTIONS", "DROMOS_SECCOMP_LOG",
	};
	size_t		 i, k = 0;
	const char	*v;

	for (i = 0; i < sizeof(pass) / sizeof(pass[0]) && k + 1 < n; i++)
		if ((v = getenv(pass[i])) != NULL &&
		    asprintf(&envp[k], "%s=%s", pass[i], v) != -1)
			k++;
	envp[k] = NULL;
#else
	(void)n;
	envp[0] = NULL;
#endif
}

/* In the child: fd on descriptor to, inherited by exec.  0 or -1. */
static int
place_fd(int fd, int to)
{
	if (fd == to)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, to) == -1 ? -1 : 0;
}

/*
 * Fork and exec the broker with its end of the socketpair on fd 3 and the
 * read end of the stop pipe on fd 4 (khproto.h).
 */
static pid_t
start_broker(const struct dromos_conf *conf, int fd, int stopfd, int debug,
    int verbose)
{
	char	*argv[6];
	char	*envp[4];
	int	 argc = 0;
	pid_t	 pid;

	broker_env(envp, sizeof(envp) / sizeof(envp[0]));

	argv[argc++] = "dromos-broker";
	if (debug)
		argv[argc++] = "-d";
	if (verbose > 0)
		argv[argc++] = "-v";
	if (verbose > 1)
		argv[argc++] = "-v";
	argv[argc] = NULL;

	switch (pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		/* Out of the way of the socket's place first. */
		if (stopfd == KH_BROKER_FD &&
		    (stopfd = fcntl(stopfd, F_DUPFD_CLOEXEC, KH_STOP_FD + 1)) ==
		    -1)
			_exit(127);
		if (place_fd(fd, KH_BROKER_FD) == -1 ||
		    place_fd(stopfd, KH_STOP_FD) == -1)
			_exit(127);
		execve(conf->broker_path, argv, envp);
		fprintf(stderr, "dromosd: exec %s: %s\n", conf->broker_path,
		    strerror(errno));
		_exit(127);
	}
	return pid;
}

_Static_assert(KH_CONF_MAX <= IMSG_MAXSIZE_DEFAULT - IMSG_HEADER_SIZE,
    "KH_CONFIG does not fit one imsg");

/* An optional setting: "" when absent. */
static const char *
opt(const char *s)
{
	return s != NULL ? s : "";
}

static void
send_config(struct imsgbuf *ibuf, const struct dromos_conf *conf, int verbose)
{
	struct ibuf	*m;
	char		 returns[KH_RETURNS_MAX + 1];
	size_t		 i, n = 0;

	/* The deployment's return URLs, one a line. */
	returns[0] = '\0';
	for (i = 0; i < conf->nreturn_urls; i++)
		n += (size_t)snprintf(returns + n, sizeof(returns) - n, "%s%s",
		    i ? "\n" : "", conf->return_urls[i]);
	if (n >= sizeof(returns))
		fatalx("allow return url: too many or too long");

	if ((m = imsg_create(ibuf, KH_CONFIG, 0, 0, KH_CONF_MAX)) == NULL ||
	    imsg_add_string(m, conf->listen) == -1 ||
	    imsg_add_string(m, conf->admin_socket ? conf->admin_socket : "") ==
	    -1 ||
	    imsg_add_string(m, conf->admin_group ? conf->admin_group : "") ==
	    -1 ||
	    imsg_add_string(m, conf->database) == -1 ||
	    imsg_add_u32(m, (uint32_t)verbose) == -1 ||
	    imsg_add_string(m, conf->public_url) == -1 ||
	    imsg_add_string(m, conf->user_broker) == -1 ||
	    imsg_add_string(m, returns) == -1 ||
	    imsg_add_string(m, conf->metrics_listen ? conf->metrics_listen :
	    "") == -1 ||
	    imsg_add_string(m, opt(conf->tls_listen)) == -1 ||
	    imsg_add_string(m, opt(conf->tls_cert)) == -1 ||
	    imsg_add_string(m, opt(conf->tls_key)) == -1 ||
	    imsg_add_string(m, opt(conf->tls_ca)) == -1 ||
	    imsg_add_string(m, opt(conf->tls_crl)) == -1 ||
	    imsg_add_u32(m, (uint32_t)conf->access_keep) == -1)
		fatalx("cannot build the broker's configuration");
	if (imsg_close(ibuf, m) == -1 || imsgbuf_flush(ibuf) == -1)
		fatal("send configuration to the broker");
}

static struct audit *
setup_audit(const struct dromos_conf *conf, const uint8_t *rootkey, int fd,
    int rfd)
{
	struct audit_config	 ac;
	struct auditkey		*ak;
	struct audit		*a;

	if ((ak = auditkey_derive(rootkey)) == NULL)
		fatalx("cannot derive the audit signing key");
	memset(&ac, 0, sizeof(ac));
	ac.checkpoint_every = (unsigned)conf->audit_every;
	ac.sync = AUDIT_SYNC_CHECKPOINT;
	if ((a = audit_new(fd, ak, &ac)) == NULL)
		fatalx("cannot start the audit log");
	if (audit_resume(a, rfd) == -1)
		fatalx("audit log %s: cannot continue its chain (a damaged "
		    "log must be moved aside and verified with dromosctl "
		    "audit verify)", conf->audit_log);
	close(rfd);
	return a;
}

int
main(int argc, char *argv[])
{
	struct dromos_conf	 conf;
	struct keyholder	 kh;
	struct policy_fds	 fds;
	struct audit_event	 ev;
	struct audit		*kh_audit;
	const char		*conffile = DROMOS_CONF_PATH;
	char			 err[512];
	uint8_t			*rootkey;
	int			 ch, debug = 0, noaction = 0, verbose = 0;
	int			 sp[2], stop[2], afd, arfd, rv;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();

	log_init(debug, verbose);
	log_procinit("dromosd");

	memset(&conf, 0, sizeof(conf));
	if (config_load(conffile, &conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	if (noaction) {
		if (verbose)
			config_dump(&conf, stdout);
		fprintf(stderr, "configuration OK\n");
		config_free(&conf);
		exit(0);
	}
	if (geteuid() != 0)
		log_info("not running as root: keeping uid %d; no user or "
		    "capability changes", (int)geteuid());

	memset(&kh, 0, sizeof(kh));
	if (secmem_init() == -1 || aead_init() == -1)
		fatalx("cannot initialise the cryptography");
	rootkey = load_rootkey(&conf);
	afd = open_audit(conf.audit_log, conf.user_keyholder, &arfd);
	kh.audit_dirfd = open_auditdir(conf.audit_log, &kh.audit_name);
	/* Before the broker exists: a wrong key or a damaged log stops here. */
	kh_audit = setup_audit(&conf, rootkey, afd, arfd);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	if (pipe2(stop, O_CLOEXEC) == -1)
		fatal("pipe2");
	kh.broker = start_broker(&conf, sp[1], stop[0], debug, verbose);
	close(sp[1]);
	close(stop[0]);
	kh.stopfd = stop[1];

	if (geteuid() == 0) {
		policy_drop_user(conf.user_keyholder);
		policy_caps_clear();
	}
	policy_harden_process();
	if (secmem_unlocked() > 0)
		log_warnx("key memory could not be locked into RAM "
		    "(RLIMIT_MEMLOCK)");

	kh.rootkey = rootkey;
	kh.rotate_after = conf.rotate_after;
	kh.checkpoint_interval = conf.audit_interval;
	kh.rate = KH_RATE_DEFAULT;
	kh.audit = kh_audit;
	if (imsgbuf_init(&kh.ibuf, sp[0]) == -1)
		fatal("imsgbuf_init");
	send_config(&kh.ibuf, &conf, verbose);

	memset(&ev, 0, sizeof(ev));
	ev.op = AUDIT_START;
	ev.pid = kh.broker;
	if (audit_append(kh.audit, &ev) == -1 || audit_commit(kh.audit) == -1)
		fatalx("audit log %s: cannot write", conf.audit_log);
	log_info("keyholder started, broker pid %d", (int)kh.broker);
	config_free(&conf);

	policy_fds_init(&fds);
	fds.imsg = sp[0];
	fds.audit = afd;
	fds.auditdir = kh.audit_dirfd;
	fds.log = STDERR_FILENO;
	fds.child = kh.broker;
	if (policy_landlock_audit(kh.audit_dirfd) == -1)
		fatalx("cannot restrict the file system (landlock)");
	if (policy_seccomp_load(POLICY_KEYHOLDER, &fds) == -1)
		fatalx("cannot load the seccomp filter");

	rv = keyholder_loop(&kh);
	log_info("keyholder exiting (%d)", rv);
	return rv;
}
