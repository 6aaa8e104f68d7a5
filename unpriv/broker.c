/*
 * dromos-broker: the unprivileged half of Dromos.  dromosd (the keyholder)
 * starts it with one end of their socketpair on descriptor 3 and sends its
 * settings over it; the broker never reads dromos.conf.
 *
 * Start-up, in order:
 *	check descriptor 3, receive KH_CONFIG
 *	create the HTTP socket (still root: the directory is root's)
 *	drop to _dromos, clear capabilities, harden the process
 *	warm up OpenSSL, libpq, libcurl, jansson and the resolver
 *	load the seccomp filter
 *	give the keyholder a keyring, start serving
 * then wait for a signal or for the keyholder to go away.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "policy/policy.h"
#include "priv/khproto.h"
#include "unpriv/http.h"
#include "unpriv/khclient.h"
#include "unpriv/listen.h"

#define BROKER_USER		"_dromos"
#define GATEWAY_GROUP		"_dromosgw"	/* may connect to us */
#define CONFIG_TIMEOUT_MS	10000
#define HTTP_THREADS_MAX	16u

/*
 * The sealed keyring blob.  Step 3 keeps it in PostgreSQL, so that every
 * broker sharing the database shares keys; until then it lives here and a
 * restart of dromosd makes a new keyring.
 */
static unsigned char	 keyring_blob[KH_BLOB_MAX];
static size_t		 keyring_bloblen;

static int		 dead_pipe[2] = { -1, -1 };

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: dromos-broker [-dnv] [-f file]\n");
	exit(1);
}

/* Descriptors 0-2 must be open, so nothing we open can become one. */
static void
fds_sanitise(void)
{
	int	 fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR) != fd)
			fatal("/dev/null");
}

/* Descriptor 3 must be our end of dromosd's socketpair. */
static void
check_kh_fd(void)
{
	struct stat	 st;
	int		 dom, type;
	socklen_t	 len;

	len = sizeof(dom);
	if (fstat(KH_BROKER_FD, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(KH_BROKER_FD, SOL_SOCKET, SO_DOMAIN, &dom, &len) == -1 ||
	    dom != AF_UNIX)
		fatalx("dromos-broker is started by dromosd: descriptor %d "
		    "is not a unix socket", KH_BROKER_FD);
	len = sizeof(type);
	if (getsockopt(KH_BROKER_FD, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		fatalx("dromos-broker is started by dromosd: descriptor %d "
		    "is not a stream socket", KH_BROKER_FD);
	/* Nothing else is meant to be inherited. */
	if (close_range(KH_BROKER_FD + 1, ~0u, 0) == -1)
		fatal("close_range");
}

/* Called by the keyholder client, on whichever thread saw the failure. */
static void
kh_dead(void *arg)
{
	ssize_t	 n;

	(void)arg;
	n = write(dead_pipe[1], "x", 1);
	(void)n;
}

/*
 * Who owns the HTTP socket: _dromos, with the gateway's group so that the
 * gateway may connect.  Not root: leave it to us.
 */
static void
socket_owner(uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(BROKER_USER)) == NULL)
		fatalx("no user %s (scripts/install-deps creates it)",
		    BROKER_USER);
	*uid = pw->pw_uid;
	if ((gr = getgrnam(GATEWAY_GROUP)) != NULL)
		*gid = gr->gr_gid;
	else {
		log_warnx("no group %s: the HTTP socket gets group %s",
		    GATEWAY_GROUP, BROKER_USER);
		*gid = pw->pw_gid;
	}
}

/*
 * Everything the libraries load lazily (configuration files, random
 * devices, NSS modules) is loaded now, while the filter still allows it.
 */
static void
warm_up(unsigned int *nthreads)
{
	unsigned char		 b[32];
	PQconninfoOption	*opts;
	struct addrinfo		 hints, *res;
	long			 ncpu;

	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS,
	    NULL) != 1 || OPENSSL_init_ssl(0, NULL) != 1)
		fatalx("OpenSSL does not initialise");
	if (RAND_bytes(b, sizeof(b)) != 1)
		fatalx("OpenSSL has no random bytes");
	explicit_bzero(b, sizeof(b));

	PQinitOpenSSL(0, 0);		/* OpenSSL is initialised above */
	if ((opts = PQconndefaults()) == NULL)
		fatalx("libpq does not initialise");
	PQconninfoFree(opts);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("libcurl does not initialise");
	log_debug("libcurl %s, libpq %d, %s",
	    curl_version_info(CURLVERSION_NOW)->version, PQlibVersion(),
	    OpenSSL_version(OPENSSL_VERSION));

	/* jansson seeds its hash function from /dev/urandom on first use. */
	json_object_seed(0);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "443", &hints, &res) == 0)
		freeaddrinfo(res);

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	*nthreads = ncpu < 2 ? 2u : ncpu > HTTP_THREADS_MAX ?
	    HTTP_THREADS_MAX : (unsigned int)ncpu;
}

static void
sandbox(unsigned int *nthreads)
{
	/* Not root: these two log that they skip their part. */
	policy_drop_user(BROKER_USER);
	policy_caps_clear();
	policy_harden_process();
	warm_up(nthreads);
	if (policy_seccomp_load(POLICY_BROKER, NULL) == -1)
		fatalx("cannot load the seccomp filter");
}

/*
 * A fresh keyholder has no keyring: make one and keep its sealed blob.
 * Step 3 loads the blob from PostgreSQL instead, and makes one only when
 * the database has none.
 */
static void
keyring_start(struct khclient *kh)
{
	int	 rv;

	rv = kh_keyring_init(kh, keyring_blob, sizeof(keyring_blob),
	    &keyring_bloblen);
	if (rv == KH_E_HAVE_KEYRING) {
		log_info("the keyholder holds a keyring already");
		return;
	}
	if (rv != 0)
		fatalx("keyring init: %s", kh_strerror(rv));
	log_info("new keyring (%zu byte sealed blob, kept in memory)",
	    keyring_bloblen);
}

static int
signal_fd(void)
{
	sigset_t	 set;
	int		 fd;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread exists, so in every thread. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	return fd;
}

/* Serve until a signal (0) or the loss of the keyholder (1). */
static int
main_loop(struct khclient *kh, int sigfd)
{
	struct pollfd			 pfd[3];
	struct signalfd_siginfo		 si;
	int				 err;

	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = dead_pipe[0];
	pfd[1].events = POLLIN;
	/* Only hang-ups: the replies on it belong to the client's threads. */
	pfd[2].fd = KH_BROKER_FD;
	pfd[2].events = POLLRDHUP;
	for (;;) {
		if (poll(pfd, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents & POLLIN &&
		    read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				log_info("SIGHUP ignored: settings come from "
				    "dromosd");
				continue;
			}
			log_info("exiting on signal %u", si.ssi_signo);
			return 0;
		}
		if (pfd[2].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
			kh_client_kill(kh, EPIPE);
		if ((err = kh_client_dead(kh)) != 0) {
			log_warnx("lost the keyholder: %s; exiting",
			    err == EPIPE ? "dromosd closed the channel" :
			    strerror(err));
			return 1;
		}
	}
}

int
main(int argc, char *argv[])
{
	struct kh_config	 cf;
	struct khclient		*kh;
	struct http_server	*srv;
	uid_t			 uid;
	gid_t			 gid;
	unsigned int		 nthreads;
	int			 ch, debug = 0, noaction = 0, verbose = 0;
	int			 lfd, sigfd, rv;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			/* Uniform with the other daemons; dromosd sends ours. */
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
	log_procinit("broker");

	fds_sanitise();
	check_kh_fd();
	sigfd = signal_fd();
	if (pipe2(dead_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	if ((kh = kh_client_new(KH_BROKER_FD, 0, kh_dead, NULL)) == NULL)
		fatal("keyholder channel");
	if (kh_recv_config(kh, CONFIG_TIMEOUT_MS, &cf) == -1)
		fatalx("no valid settings from dromosd: %s", strerror(errno));
	if (cf.verbose > (uint32_t)verbose)
		log_setverbose(cf.verbose > 9 ? 9 : (int)cf.verbose);
	if (noaction) {
		log_info("settings from dromosd are valid");
		kh_config_clear(&cf);
		kh_client_free(kh);
		return 0;
	}

	socket_owner(&uid, &gid);
	if ((lfd = listen_unix(cf.listen, 0660, uid, gid)) == -1)
		fatalx("cannot listen on %s", cf.listen);
	sandbox(&nthreads);
	keyring_start(kh);
	if ((srv = http_start(lfd, kh, nthreads)) == NULL)
		fatalx("cannot serve HTTP");
	log_kv(LOGL_INFO, "ready", "listen", cf.listen, NULL);

	rv = main_loop(kh, sigfd);
	http_stop(srv);
	kh_client_free(kh);
	kh_config_clear(&cf);
	explicit_bzero(keyring_blob, sizeof(keyring_blob));
	return rv;
}
