/*
 * dromos-gateway: the stateless public front door of Dromos (DESIGN §2,
 * §7).  It holds no key and no database: it checks each request, limits
 * its rate, and forwards it to the broker, over its internal socket or,
 * for a broker on another host, over TCP and mutual TLS.
 *
 * Start-up, in order:
 *	make OpenSSL wipe what it frees (before it allocates anything)
 *	read gateway.conf (-n: check it, the TLS files and the broker's
 *	    name, then exit)
 *	read the TLS certificate and key (still root: they are root's)
 *	"broker tls": resolve the broker's name, read its CA and our client
 *	    certificate and key into one OpenSSL context, wipe the key's
 *	    file buffer
 *	create the listening sockets (still root: any port), one for each
 *	    event loop (gateway/server.c)
 *	drop to the configured user, clear capabilities, harden the process
 *	warm up OpenSSL, jansson, the random source and libmicrohttpd
 *	load the seccomp filter (POLICY_GATEWAY)
 *	start the servers, wipe the key from our memory
 * then serve until SIGTERM or SIGINT, closing slow clients every second,
 * and drain: no new clients, the requests in flight answered.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/jsonmem.h"
#include "common/log.h"
#include "common/mxserve.h"
#include "common/osslmem.h"
#include "gateway/brokertls.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/pem.h"
#include "gateway/ratelimit.h"
#include "gateway/route.h"
#include "gateway/server.h"
#include "gateway/upstream.h"
#include "policy/policy.h"

#define LOOPS_MAX	64u
#define NOFILE_WANT	4096u

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: dromos-gateway [-dnRv] [-f file]\n");
	exit(1);
}

/* -R: the route table, one "METHOD PATTERN" a line, for tests and docs. */
static void
print_routes(void)
{
	size_t	 i;

	for (i = 0; i < gw_nroutes; i++)
		printf("%s %s\n", gw_routes[i].method, gw_routes[i].pattern);
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

/* "broker tls": the broker resolved, the context built; fatal if not. */
static struct gw_broker *
broker_open(const struct gw_conf *cf, const char *conffile,
    struct gw_broker *b)
{
	char	 err[512];

	if (cf->broker_tls.host == NULL)
		return NULL;
	if (gw_broker_open(cf, b, err, sizeof(err)) == -1)
		fatalx("%s:%d: \"broker tls\": %s", conffile, cf->broker_line,
		    err);
	return b;
}

/* -n: the file parsed; the TLS files must be usable too. */
static int
check_only(const struct gw_conf *cf, const char *conffile, int verbose)
{
	struct gw_broker	 b;
	char			 err[512];
	char			*cert = NULL, *key = NULL;

	if (cf->tls == 1 &&
	    ((cert = gw_pem_read(cf->tls_cert, 0, err, sizeof(err))) == NULL ||
	    (key = gw_pem_read(cf->tls_key, SECFILE_SECRET | SECFILE_GROUP_OK,
	    err, sizeof(err))) == NULL)) {
		gw_pem_free(cert);
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	gw_pem_free(cert);
	gw_pem_free(key);
	if (cf->broker_tls.host != NULL) {
		if (gw_broker_open(cf, &b, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s:%d: \"broker tls\": %s\n", conffile,
			    cf->broker_line, err);
			return 1;
		}
		gw_broker_close(&b);
	}
	if (verbose)
		gw_config_dump(cf, stdout);
	fprintf(stderr, "configuration OK\n");
	return 0;
}

/*
 * SO_REUSEPORT always: the event loops' sockets share one address, and a
 * new gateway can start on it while the old one drains (a restart that
 * refuses nobody).  Only a process of the same user can join the group:
 * root's, for a socket made before the privileges were dropped.
 */
static int
tcp_listen(const struct gw_addr *a)
{
	int	 fd, on = 1;

	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		fatal("SO_REUSEPORT");
	if (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		fatal("bind %s", a->text);
	if (listen(fd, 511) == -1)
		fatal("listen %s", a->text);
	return fd;
}

/*
 * Up to CONN_LIMIT clients, the broker pool and libmicrohttpd's own
 * descriptors: more than the usual soft limit of 1024.
 */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur >= NOFILE_WANT || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max < NOFILE_WANT ? rl.rlim_max : NOFILE_WANT;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
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
 * Event loops: as configured, or one per two CPUs.  A loop waits for
 * nothing, so it keeps a CPU busy on its own; the gateway usually shares
 * its host with the broker and PostgreSQL, whose work each request is,
 * and a second loop on two CPUs measured no faster, only costlier (fewer
 * requests handled per wake-up).
 */
static unsigned int
loops_wanted(const struct gw_conf *cf)
{
	long	 ncpu;

	if (cf->threads != 0)
		return (unsigned int)cf->threads;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN) / 2;
	return ncpu < 1 ? 1 : ncpu > (long)LOOPS_MAX ? LOOPS_MAX :
	    (unsigned int)ncpu;
}

/*
 * What the libraries load lazily (OpenSSL's providers, jansson's hash
 * seed, the random source) is loaded now, while the filter allows it.
 */
static void
warm_up(const struct gw_conf *cf)
{
	unsigned char	 key[GW_RATEKEY_LEN], rnd[16];
	json_error_t	 err;
	json_t		*doc;

	gw_ratekey("warm-up", "", 0, key);
	arc4random_buf(rnd, sizeof(rnd));
	json_object_seed(0);
	/* The document we serve must at least be JSON. */
	doc = json_loadb((const char *)gw_openapi, gw_openapi_len, 0, &err);
	if (doc == NULL || !json_is_object(doc) ||
	    json_object_get(doc, "openapi") == NULL)
		fatalx("the embedded OpenAPI document is not valid");
	json_decref(doc);
	if (cf->tls == 1 && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		fatalx("libmicrohttpd was built without TLS");
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES)
		fatalx("libmicrohttpd was built without epoll");
}

/*
 * What the gateway may still read by path once it serves: the system's
 * configuration (GnuTLS's priorities, the time zone's link), the zone
 * files, and the directory of the broker's CRL, read again when it
 * changes.  Nothing may be written.
 */
static void
unveil_paths(const struct gw_broker *bp)
{
	struct policy_path	 p[3] = {
		{ "/etc", -1, POLICY_FS_READ },
		{ "/usr/share/zoneinfo", -1, POLICY_FS_READ },
		{ NULL, -1, POLICY_FS_READ },
	};
	char			*dir = NULL, *slash;
	size_t			 n = 2;

	if (bp != NULL && bp->crl != NULL) {
		if ((dir = strdup(bp->crl)) == NULL)
			fatal("strdup");
		/* Absolute (gateway.conf); "/" for a file at the root. */
		if ((slash = strrchr(dir, '/')) != NULL)
			slash[slash == dir ? 1 : 0] = '\0';
		p[n++].path = dir;
	}
	if (policy_landlock(p, n) == -1)
		fatalx("cannot restrict the file system (landlock)");
	free(dir);
}

static struct ratelimit *
limiter(const struct gw_rate *r, uint64_t entries, const char *what)
{
	struct ratelimit	*rl;

	if (r->off)
		return NULL;
	if ((rl = ratelimit_new(gw_rate_per_second(r), (double)r->burst,
	    (size_t)entries)) == NULL)
		fatalx("cannot set up the %s rate limit", what);
	return rl;
}

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Serve until SIGTERM or SIGINT, closing slow clients every second; then
 * drain: no new connections, and the requests in flight answered, for at
 * most the broker timeout and a second (no request waits for the broker
 * longer).  A second signal ends the drain at once.
 */
static void
main_loop(int sigfd, struct gw_server *srv, const struct gw_conf *cf)
{
	struct pollfd			 pfd;
	struct signalfd_siginfo		 si;
	uint64_t			 deadline = 0;
	unsigned int			 left;
	int				 n;

	pfd.fd = sigfd;
	pfd.events = POLLIN;
	for (;;) {
		if ((n = poll(&pfd, 1, deadline != 0 ? 100 : 1000)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		gw_server_reap(srv);
		if (deadline != 0 && gw_server_drained(srv)) {
			log_info("drained: every request was answered");
			return;
		}
		if (deadline != 0 && now_ms() >= deadline) {
			left = gw_server_inflight(srv);
			log_warnx("drain took too long: %u request%s cut short",
			    left, left == 1 ? "" : "s");
			return;
		}
		if (n == 0 || read(sigfd, &si, sizeof(si)) !=
		    (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP ignored: restart to read the "
			    "configuration again");
			continue;
		}
		if (deadline != 0) {
			log_info("signal %u again: exiting now", si.ssi_signo);
			return;
		}
		left = gw_server_inflight(srv);
		log_info("signal %u: draining (%u request%s in flight)",
		    si.ssi_signo, left, left == 1 ? "" : "s");
		deadline = now_ms() + cf->broker_timeout * 1000 + 1000;
		gw_server_drain(srv);
	}
}

int
main(int argc, char *argv[])
{
	struct gw_conf		 cf;
	struct gw_broker	 broker;
	struct gw_broker	*bp;
	struct gw_limits	 limits;
	struct gw_server	*srv;
	struct mxserve		*msrv = NULL;
	const char		*conffile = GW_CONF_PATH;
	char			 err[512], *cert = NULL, *key = NULL;
	unsigned int		 i, nloops;
	int			 ch, debug = 0, noaction = 0, verbose = 0;
	int			 lfds[LOOPS_MAX], mfd = -1, sigfd;

	/* Its decoders leave copies of the broker TLS key in what they free. */
	if (osslmem_init() == -1) {
		fprintf(stderr, "OpenSSL allocated before main()\n");
		return 1;
	}
	while ((ch = getopt(argc, argv, "df:nRv")) != -1) {
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
		case 'R':
			print_routes();
			return 0;
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
	log_procinit("gateway");
	jsonmem_init();

	if (gw_config_load(conffile, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (noaction) {
		ch = check_only(&cf, conffile, verbose);
		gw_config_free(&cf);
		return ch;
	}

	fds_sanitise();
	raise_nofile();
	sigfd = signal_fd();
	if (cf.tls == 1 &&
	    ((cert = gw_pem_read(cf.tls_cert, 0, err, sizeof(err))) == NULL ||
	    (key = gw_pem_read(cf.tls_key, SECFILE_SECRET |
	    SECFILE_GROUP_OK, err, sizeof(err))) == NULL))
		fatalx("%s", err);
	bp = broker_open(&cf, conffile, &broker);
	nloops = loops_wanted(&cf);
	for (i = 0; i < nloops; i++)
		lfds[i] = tcp_listen(&cf.listen);
	if (cf.metrics.line != 0)
		mfd = tcp_listen(&cf.metrics);

	/* Not root: these two log that they skip their part. */
	policy_drop_user(cf.user);
	policy_caps_clear();
	policy_harden_process();
	warm_up(&cf);
	unveil_paths(bp);
	if (policy_seccomp_load(POLICY_GATEWAY, NULL) == -1)
		fatalx("cannot load the seccomp filter");

	limits.client = limiter(&cf.rl_client, cf.rl_entries, "client");
	limits.connection = limiter(&cf.rl_conn, cf.rl_entries, "connection");
	limits.refresh = limiter(&cf.rl_refresh, cf.rl_entries, "refresh");
	srv = gw_server_start(&cf, lfds, nloops, cert, key, bp, &limits);
	gw_pem_free(key);
	gw_pem_free(cert);
	if (srv == NULL)
		fatalx("cannot serve on %s", cf.listen.text);
	if (mfd != -1 && (msrv = mxserve_start(mfd, metrics_render, NULL)) == NULL)
		fatalx("cannot serve metrics on %s", cf.metrics.text);
	log_kv(LOGL_INFO, "ready", "listen", cf.listen.text,
	    "tls", cf.tls == 1 ? "on" : "off",
	    "broker", bp != NULL ? bp->label : cf.broker_socket,
	    "broker_tls", bp != NULL ? bp->addr : "-",
	    "metrics", cf.metrics.line != 0 ? cf.metrics.text : "-", NULL);

	main_loop(sigfd, srv, &cf);
	mxserve_stop(msrv);
	gw_server_stop(srv);
	if (bp != NULL)
		gw_broker_close(&broker);
	ratelimit_free(limits.client);
	ratelimit_free(limits.connection);
	ratelimit_free(limits.refresh);
	gw_config_free(&cf);
	return 0;
}
