/*
 * gateway.conf: the settings of dromos-gateway, in the common language of
 * common/conf.h.  The grammar is in dromos-gateway.8; in short:
 *
 *	listen "127.0.0.1:8443"
 *	tls certificate "/etc/dromos/gw.crt" key "/etc/dromos/gw.key"
 *	tls off				(only when listen is a loopback)
 *	broker socket "/run/dromos/broker.sock"
 *	    or: broker tls "broker.internal:9443" ca "/etc/dromos/broker-ca.pem"
 *		certificate "/etc/dromos/gw-client.crt"
 *		key "/etc/dromos/gw-client.key" [name "broker.internal"]
 *		[crl "/etc/dromos/broker-ca.crl"]
 *	broker timeout 30
 *	metrics listen "127.0.0.1:9102"
 *	cors origin "https://app.example"	(repeatable)
 *	rate limit client 50 burst 100
 *	rate limit connection 20 per second burst 40
 *	rate limit refresh 6 per minute burst 3
 *	rate limit entries 65536
 *	user "_dromosgw"
 *	body limit 65536
 *	client timeout 30
 *	threads 2
 */
#ifndef DROMOS_GATEWAY_CONFIG_H
#define DROMOS_GATEWAY_CONFIG_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GW_CONF_PATH	"/etc/dromos/gateway.conf"
#define GW_DEFAULT_BROKER "/run/dromos/broker.sock" /* no broker statement */
#define GW_CONF_MAX	((size_t)1024 * 1024)
#define GW_CORS_MAX	32

struct gw_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 loopback;
	char			 text[64];	/* as written, for logs */
	int			 line;
};

struct gw_rate {
	int		 off;
	uint64_t	 n;		/* tokens per unit */
	int		 per_minute;	/* the unit: 0 second, 1 minute */
	uint64_t	 burst;
};

/*
 * "broker tls": the broker's TLS listener, reached over TCP with mutual
 * TLS.  host is as written (an IPv6 address without its brackets), a DNS
 * name or a numeric address; it is resolved when the gateway starts.
 */
struct gw_broker_tls {
	char		*text;		/* "HOST:PORT" as written, for logs */
	char		*host;
	char		*port;		/* digits, 1 to 65535 */
	char		*ca;		/* what the broker's cert chains to */
	char		*cert;		/* the gateway's client certificate */
	char		*key;		/* and its private key */
	char		*name;		/* the name to verify; NULL: host */
	char		*crl;		/* the CA's CRLs; NULL: none */
};

struct gw_conf {
	struct gw_addr	 listen;		/* line 0: not given */
	int		 tls;			/* -1 not given, 0 off, 1 on */
	int		 tls_line;
	char		*tls_cert;
	char		*tls_key;
	char		*broker_socket;		/* NULL with "broker tls" */
	struct gw_broker_tls broker_tls;	/* host NULL: not given */
	int		 broker_line;		/* of either statement */
	uint64_t	 broker_timeout;	/* seconds */
	struct gw_addr	 metrics;		/* line 0: none */
	char		*cors[GW_CORS_MAX];
	size_t		 ncors;
	struct gw_rate	 rl_client;
	struct gw_rate	 rl_conn;
	struct gw_rate	 rl_refresh;
	uint64_t	 rl_entries;
	char		*user;
	uint64_t	 body_limit;
	uint64_t	 client_timeout;	/* seconds */
	uint64_t	 threads;		/* 0: by the CPUs */
};

/* Defaults first, then the file; 0, or -1 with "file:line: ..." in err. */
int	 gw_config_parse(const char *name, const char *buf, size_t len,
	    struct gw_conf *, char *err, size_t errlen);
int	 gw_config_load(const char *path, struct gw_conf *, char *err,
	    size_t errlen);
void	 gw_config_free(struct gw_conf *);
void	 gw_config_dump(const struct gw_conf *, FILE *);

/* The name the broker's certificate must carry: "name", or the host. */
const char *gw_broker_name(const struct gw_conf *);

/* Tokens a second of a rate (0 when off). */
double	 gw_rate_per_second(const struct gw_rate *);

/* Is this origin configured for CORS? */
int	 gw_cors_allowed(const struct gw_conf *, const char *origin);

#endif /* DROMOS_GATEWAY_CONFIG_H */
