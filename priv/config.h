/*
 * dromos.conf(5): the appliance's configuration, read by dromosd as root
 * before it drops privileges.  The grammar is common/conf.h's; this file
 * knows the statements and their defaults.
 */
#ifndef DROMOS_PRIV_CONFIG_H
#define DROMOS_PRIV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef DROMOS_CONF_PATH
#define DROMOS_CONF_PATH	"/etc/dromos/dromos.conf"
#endif
#ifndef DROMOS_BROKER_PATH
#define DROMOS_BROKER_PATH	"/usr/local/libexec/dromos-broker"
#endif

#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes */

#define CONFIG_LISTEN		"/run/dromos/broker.sock"
#define CONFIG_ADMIN_SOCKET	"/run/dromos/admin.sock"
#define CONFIG_PUBLIC_URL	"https://127.0.0.1:8443"
#define CONFIG_URL_MAX		256
#define CONFIG_RETURN_URLS_MAX	16
#define CONFIG_USER_KEYHOLDER	"_dromoskey"
#define CONFIG_USER_BROKER	"_dromos"
#define CONFIG_AUDIT_EVERY	1000		/* lines per checkpoint */
#define CONFIG_AUDIT_INTERVAL	300		/* seconds per checkpoint */
#define CONFIG_ROTATE_AFTER	1073741824ULL	/* seals per key version */

/*
 * Random 96-bit nonces: NIST SP 800-38D allows 2^32 seals under one key;
 * stop well before.
 */
#define CONFIG_ROTATE_MAX	2147483648ULL
#define CONFIG_AUDIT_EVERY_MAX	1000000
#define CONFIG_AUDIT_INTERVAL_MAX 86400

enum config_rootkey {
	ROOTKEY_NONE = 0,
	ROOTKEY_FILE,		/* 32 raw bytes in a 0400 file */
	ROOTKEY_TPM,		/* sealed in a TPM 2.0 */
};

/*
 * Every string is heap-allocated and never NULL after a successful parse,
 * except the optional ones marked so.
 */
struct dromos_conf {
	char			*listen;	/* broker's internal HTTP socket */
	char			*admin_socket;	/* dromosctl's socket */
	char			*admin_group;	/* NULL: root only */
	char			*database;	/* libpq conninfo: a secret */
	enum config_rootkey	 rootkey;
	char			*rootkey_path;	/* the key file or TPM blob */
	char			*tpm_tcti;	/* NULL: the tpm2-tss default */
	char			*tpm_pcrs;	/* NULL: no PCR policy */
	char			*audit_log;
	uint64_t		 audit_every;	/* lines between checkpoints */
	uint64_t		 audit_interval; /* seconds between them */
	char			*user_keyholder;
	char			*user_broker;
	char			*broker_path;	/* the dromos-broker binary */
	uint64_t		 rotate_after;	/* seals per key version */
	uint64_t		 access_keep;	/* days of access_log; 0: all */
	char			*metrics_listen; /* host:port; NULL: none */
	/* The broker's API over TCP and mutual TLS ("listen tls"). */
	char			*tls_listen;	/* host:port; NULL: none */
	char			*tls_cert;	/* PEM: certificate (chain) */
	char			*tls_key;	/* PEM: its private key */
	char			*tls_ca;	/* PEM: CA(s) of the clients */
	char			*tls_crl;	/* PEM: their CRLs, or NULL */
	int			 tls_line;	/* of the statement */
	char			*public_url;	/* the gateway's base URL */
	/* Where connect sessions may send browsers back (prefixes). */
	char			*return_urls[CONFIG_RETURN_URLS_MAX];
	size_t			 nreturn_urls;
};

/*
 * Each returns 0, or -1 with a message in err ("file:line: ...").  On
 * error *conf holds nothing (config_free is still safe).  config_load
 * also reads the files "listen tls" names and checks them
 * (config_check_tls); config_parse_buf reads no file.
 */
int	 config_load(const char *path, struct dromos_conf *, char *err,
	    size_t errlen);
int	 config_parse_buf(const char *buf, size_t len, const char *name,
	    struct dromos_conf *, char *err, size_t errlen);
/* Zeroises every string (the database string holds a password). */
void	 config_free(struct dromos_conf *);

/*
 * Refuses what is not a regular file, what group or others may access
 * (mode & 077), and what neither root nor the effective user owns.
 */
int	 config_check_file_secrecy(int fd, const char *path, char *err,
	    size_t errlen);

/*
 * The files of "listen tls", as the broker will read them: the key is a
 * secret file (common/secfile.h) holding an unencrypted PEM private key
 * that matches the first certificate of the certificate file; the
 * certificate and client CA files hold PEM certificates and nothing that
 * does not parse.  0 when there is no "listen tls" or all is well, or -1
 * with "name:line: ..." in err.  (priv/tlsfiles.c; OpenSSL.)
 */
int	 config_check_tls(const struct dromos_conf *, const char *name,
	    char *err, size_t errlen);

/* The configuration as dromos.conf text, database password redacted. */
void	 config_dump(const struct dromos_conf *, FILE *);

/*
 * A libpq connection string (key=value or URI) with every password
 * value replaced by "[redacted]"; all of it redacted if it does not parse.
 * Returns 0, or -1 if out is too small (out then holds "[redacted]").
 */
int	 config_redact_conninfo(const char *in, char *out, size_t outlen);

#endif /* DROMOS_PRIV_CONFIG_H */
