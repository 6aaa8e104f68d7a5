/*
 * dromos-broker: the unprivileged half of Dromos.  dromosd (the keyholder)
 * starts it with one end of their socketpair on descriptor 3 and sends its
 * settings over it; the broker never reads dromos.conf.
 *
 * Start-up, in order:
 *	check descriptor 3, receive KH_CONFIG
 *	create the HTTP socket (still root: the directory is root's), and
 *	the metrics listener's if there is one; for the API over TLS, read
 *	its certificate, key and client CA and bind its TCP socket
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
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/mxserve.h"
#include "common/osslmem.h"
#include "common/secfile.h"
#include "policy/policy.h"
#include "priv/khproto.h"
#include "common/jsonmem.h"
#include "unpriv/accesslog.h"
#include "unpriv/api.h"
#include "unpriv/auth.h"
#include "unpriv/broker.h"
#include "unpriv/cache.h"
#include "unpriv/db.h"
#include "unpriv/fsview.h"
#include "unpriv/http.h"
#include "unpriv/migrate.h"
#include "unpriv/notify.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"
#include "unpriv/khclient.h"
#include "unpriv/listen.h"
#include "unpriv/scrape.h"

#define GATEWAY_GROUP		"_dromosgw"	/* may connect to us */
#define TLS_FILE_MAX		((size_t)1024 * 1024)	/* one PEM file */
#define TLS_BACKLOG		128
#define CONFIG_TIMEOUT_MS	10000
/*
 * A request spends most of its time waiting for the database and the
 * keyholder, not on a CPU: several threads per CPU keep both busy.
 */
#define HTTP_THREADS_PER_CPU	4u
#define HTTP_THREADS_MIN	2u
#define HTTP_THREADS_MAX	16u
/* Database connections beyond one per API thread: admin, access log. */
#define DB_EXTRA		3u

static struct broker	 broker;
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

/* Descriptor 3 must be our end of dromosd's socketpair, 4 its pipe. */
static void
check_kh_fd(void)
{
	struct stat	 st;
	int		 dom, type, fl;
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
	if (fstat(KH_STOP_FD, &st) == -1 || !S_ISFIFO(st.st_mode) ||
	    (fl = fcntl(KH_STOP_FD, F_GETFL)) == -1 ||
	    (fl & O_ACCMODE) != O_RDONLY)
		fatalx("dromos-broker is started by dromosd: descriptor %d "
		    "is not the read end of a pipe", KH_STOP_FD);
	/* Nothing else is meant to be inherited. */
	if (close_range(KH_STOP_FD + 1, ~0u, 0) == -1)
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
socket_owner(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("no user %s (scripts/install-deps creates it)", user);
	*uid = pw->pw_uid;
	if ((gr = getgrnam(GATEWAY_GROUP)) != NULL)
		*gid = gr->gr_gid;
	else {
		log_warnx("no group %s: the HTTP socket gets group %s",
		    GATEWAY_GROUP, user);
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
	if (ncpu < 1)
		ncpu = 1;
	*nthreads = ncpu > (long)(HTTP_THREADS_MAX / HTTP_THREADS_PER_CPU) ?
	    HTTP_THREADS_MAX : (unsigned int)ncpu * HTTP_THREADS_PER_CPU;
	if (*nthreads < HTTP_THREADS_MIN)
		*nthreads = HTTP_THREADS_MIN;
}

/*
 * Landlock: read-only, and only what the libraries still read by path
 * (unpriv/fsview.h).  The home is libpq's: the broker has no HOME.
 */
static void
unveil_paths(const struct kh_config *cf)
{
	struct fsview	 v;
	struct passwd	*pw;
	char		 text[2048];
	int		 rv;

	pw = getpwuid(geteuid());
	if (fsview_make(&v, cf->database, cf->tls_crl,
	    pw != NULL ? pw->pw_dir : NULL) == -1)
		fatalx("cannot list the files the broker reads");
	rv = policy_landlock(v.p, v.n);
	if (rv == -1)
		fatalx("cannot restrict the file system (landlock)");
	if (rv == 0) {
		fsview_text(&v, text, sizeof(text));
		log_info("landlock: reading beneath %s only", text);
	}
	fsview_free(&v);
}

static void
sandbox(const struct kh_config *cf, unsigned int *nthreads)
{
	/* Not root: these two log that they skip their part. */
	policy_drop_user(cf->user);
	policy_caps_clear();
	policy_harden_process();
	warm_up(nthreads);
	unveil_paths(cf);
	if (policy_seccomp_load(POLICY_BROKER, NULL) == -1)
		fatalx("cannot load the seccomp filter");
}

/*
 * The caches forget what anyone else changes as soon as the database
 * says so.  Clients are cached by token hash, not id: any change to one
 * empties that cache.
 */
static void
caches_follow(struct broker *b)
{
	const struct notify_target	 t[] = {
		{ "providers",		b->providers,	1 },
		{ "clients",		b->clients,	0 },
		{ "connections",	b->conns,	1 },
	};

	if ((b->notify = notify_start(b->db, t, sizeof(t) / sizeof(t[0]))) ==
	    NULL)
		fatalx("cannot start the change listener");
}

/*
 * The database: migrations first (a newer schema than ours stops us),
 * then the keyring it keeps for every broker sharing it; the caches of
 * what it holds, and the access-log writer.
 */
static void
database_start(struct broker *b, const char *conninfo, unsigned int n,
    unsigned int keep_days)
{
	if ((b->db = store_pool_new(conninfo, n)) == NULL)
		fatalx("cannot set up the database pool");
	if (migrate_apply(b->db) != 0)
		fatalx("database migrations failed");
	if ((b->vault = vault_new(b->kh, b->db)) == NULL)
		fatal("vault_new");
	if (vault_keyring_start(b->vault) != VAULT_OK)
		fatalx("cannot load or create the keyring");
	if ((b->providers = cache_providers_new()) == NULL ||
	    (b->clients = auth_cache_new()) == NULL ||
	    (b->conns = cache_connections_new()) == NULL)
		fatalx("cannot set up the caches");
	caches_follow(b);
	if ((b->alog = accesslog_start(b->db, keep_days)) == NULL)
		fatalx("cannot start the access-log writer");
}

/* After the HTTP servers: nothing uses them any more. */
static void
database_stop(struct broker *b)
{
	accesslog_stop(b->alog);
	notify_stop(b->notify);
	cache_free(b->conns);
	cache_free(b->clients);
	cache_free(b->providers);
	vault_free(b->vault);
	db_pool_free(b->db);
}

/*
 * The API over TCP and mutual TLS, for gateways on other hosts: its PEM
 * files, read now, while we may (dromosd checked them, but they are read
 * again here: what counts is what we serve with), and its socket.
 */
struct tls_files {
	char	*pem[4];		/* certificate, key, client CA, CRL */
	size_t	 len[4];
};

static int
tls_prepare(const struct kh_config *cf, struct tls_files *tf)
{
	const char	*path[4] = { cf->tls_cert, cf->tls_key, cf->tls_ca,
			    cf->tls_crl };
	const char	*what[4] = { "certificate", "key", "client ca",
			    "client crl" };
	char		 err[KH_TLS_PATH_MAX + 128];
	size_t		 i;
	int		 fd;

	memset(tf, 0, sizeof(*tf));
	for (i = 0; i < 4; i++)
		if (path[i][0] != '\0' &&
		    secfile_read(path[i], i == 1 ? SECFILE_SECRET : 0,
		    TLS_FILE_MAX, &tf->pem[i], &tf->len[i], err,
		    sizeof(err)) == -1)
			fatalx("listen tls: %s %s", what[i], err);
	if ((fd = listen_tcp(cf->tls, TLS_BACKLOG)) == -1)
		fatalx("cannot listen on %s", cf->tls);
	return fd;
}

static void
tls_files_wipe(struct tls_files *tf)
{
	size_t	 i;

	for (i = 0; i < 4; i++)
		secfile_free(tf->pem[i], tf->len[i]);
	memset(tf, 0, sizeof(*tf));
}

/* The admin socket: root's, for the configured group only. */
static int
admin_listen(const struct kh_config *cf)
{
	struct group	*gr;
	gid_t		 gid = (gid_t)-1;
	uid_t		 uid = (uid_t)-1;
	mode_t		 mode = 0600;

	if (cf->admin[0] == '\0')
		return -1;
	if (cf->group[0] != '\0') {
		if ((gr = getgrnam(cf->group)) == NULL)
			fatalx("admin socket: no group %s", cf->group);
		gid = gr->gr_gid;
		mode = 0660;
	}
	if (geteuid() == 0)
		uid = 0;
	return listen_unix(cf->admin, mode, uid, gid);
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

/*
 * Serve until told to stop (0), by a signal or by dromosd (end of file on
 * its pipe), or until the keyholder is lost (1).
 */
static int
main_loop(struct khclient *kh, int sigfd)
{
	struct pollfd			 pfd[4];
	struct signalfd_siginfo		 si;
	int				 err;

	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = dead_pipe[0];
	pfd[1].events = POLLIN;
	/* Only hang-ups: the replies on it belong to the client's threads. */
	pfd[2].fd = KH_BROKER_FD;
	pfd[2].events = POLLRDHUP;
	pfd[3].fd = KH_STOP_FD;
	pfd[3].events = POLLIN;
	for (;;) {
		if (poll(pfd, 4, -1) == -1) {
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
			log_info("stopping on signal %u", si.ssi_signo);
			return 0;
		}
		/* Nothing is ever written: any event is dromosd's close. */
		if (pfd[3].revents != 0) {
			log_info("stopping: dromosd is stopping");
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

static unsigned int
inflight(struct http_server **srv, size_t n)
{
	unsigned int	 sum = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		sum += http_inflight(srv[i]);
	return sum;
}

/*
 * Asked to stop: new clients are refused at once, and the requests
 * already received are answered, with the keyholder still there (dromosd
 * serves until we close the channel), for at most KH_DRAIN_MS.  A second
 * signal, or the loss of the keyholder, ends the wait.
 */
static void
drain(struct http_server **srv, size_t n, struct khclient *kh, int sigfd)
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd[2];
	struct timespec		 t0, now;
	unsigned int		 left;
	size_t			 i;
	long			 ms = 0;

	for (i = 0; i < n; i++)
		http_drain(srv[i]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = KH_BROKER_FD;
	pfd[1].events = POLLRDHUP;
	while ((left = inflight(srv, n)) > 0 && ms < KH_DRAIN_MS &&
	    kh_client_dead(kh) == 0) {
		if (poll(pfd, 2, 10) > 0) {
			if (pfd[0].revents & POLLIN && read(sigfd, &si,
			    sizeof(si)) == (ssize_t)sizeof(si) &&
			    si.ssi_signo != SIGHUP) {
				log_info("second signal: not waiting any longer");
				break;
			}
			/* dromosd would not wait any longer. */
			if (pfd[1].revents != 0) {
				kh_client_kill(kh, EPIPE);
				break;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000;
	}
	if (left == 0)
		log_info("drained: every request received was answered");
	else
		log_warnx("stopping with %u request%s unanswered", left,
		    left == 1 ? "" : "s");
}

int
main(int argc, char *argv[])
{
	struct kh_config	 cf;
	struct khclient		*kh;
	struct http_server	*srv, *adm = NULL, *tsrv = NULL;
	struct http_tls		 tls;
	struct tls_files	 tf;
	struct mxserve		*msrv = NULL;
	uid_t			 uid;
	gid_t			 gid;
	unsigned int		 nthreads;
	int			 ch, debug = 0, noaction = 0, verbose = 0;
	int			 lfd, afd, mfd = -1, tfd = -1, sigfd, rv;

	/*
	 * Before OpenSSL allocates: libcurl's TLS to the providers leaves
	 * client secrets and tokens in the record buffers OpenSSL frees.
	 */
	if (osslmem_init() == -1) {
		fprintf(stderr, "OpenSSL allocated before main()\n");
		return 1;
	}
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
	jsonmem_init();

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

	socket_owner(cf.user, &uid, &gid);
	if ((lfd = listen_unix(cf.listen, 0660, uid, gid)) == -1)
		fatalx("cannot listen on %s", cf.listen);
	if ((afd = admin_listen(&cf)) == -1 && cf.admin[0] != '\0')
		fatalx("cannot listen on %s", cf.admin);
	if (cf.metrics[0] != '\0' && (mfd = metrics_listen(cf.metrics)) == -1)
		fatalx("cannot serve metrics on %s", cf.metrics);
	memset(&tf, 0, sizeof(tf));
	if (cf.tls[0] != '\0')
		tfd = tls_prepare(&cf, &tf);
	sandbox(&cf, &nthreads);
	/* Reads of a token wait for the keyholder without a thread. */
	if (kh_client_async(kh) == -1)
		fatal("keyholder reader thread");
	broker.kh = kh;
	snprintf(broker.public_url, sizeof(broker.public_url), "%s",
	    cf.public_url);
	snprintf(broker.returns, sizeof(broker.returns), "%s", cf.returns);
	database_start(&broker, cf.database, nthreads + DB_EXTRA,
	    cf.access_keep);
	if ((srv = http_start("api", lfd, api_routes, api_nroutes, &broker,
	    nthreads)) == NULL)
		fatalx("cannot serve HTTP");
	if (afd != -1 && (adm = http_start("admin", afd, admin_routes,
	    admin_nroutes, &broker, 1)) == NULL)
		fatalx("cannot serve the admin socket");
	if (mfd != -1 && (msrv = metrics_start(mfd, kh)) == NULL)
		fatalx("cannot serve metrics on %s", cf.metrics);
	if (tfd != -1) {
		tls.cert = tf.pem[0];
		tls.key = tf.pem[1];
		tls.ca = tf.pem[2];
		tls.crl = tf.pem[3];
		tls.crl_path = cf.tls_crl;
		tsrv = http_start_tls("api-tls", tfd, api_routes, api_nroutes,
		    &broker, nthreads, &tls);
		/* GnuTLS holds the key now; our copy of its text goes. */
		tls_files_wipe(&tf);
		if (tsrv == NULL)
			fatalx("cannot serve the API over TLS on %s (see the "
			    "messages above)", cf.tls);
		log_info("api over TLS 1.3 on %s, certificate %s; clients need "
		    "a certificate from %s%s%s", cf.tls, cf.tls_cert, cf.tls_ca,
		    cf.tls_crl[0] != '\0' ? " not revoked by " : "",
		    cf.tls_crl);
	}
	log_kv(LOGL_INFO, "ready", "listen", cf.listen, "admin", cf.admin,
	    "metrics", cf.metrics[0] != '\0' ? cf.metrics : "-",
	    "tls", cf.tls[0] != '\0' ? cf.tls : "-", NULL);
	kh_config_clear(&cf);

	rv = main_loop(kh, sigfd);
	if (rv == 0) {
		struct http_server	*all[] = { srv, tsrv, adm };

		drain(all, sizeof(all) / sizeof(all[0]), kh, sigfd);
	}
	mxserve_stop(msrv);
	http_stop(tsrv);
	http_stop(adm);
	http_stop(srv);
	database_stop(&broker);
	kh_client_free(kh);
	return rv;
}
