#ifndef DROMOS_COMMON_OSSLPEM_H
#define DROMOS_COMMON_OSSLPEM_H

/*
 * Small pieces every reader of PEM files through OpenSSL shares (dromosd's
 * check of the broker's TLS files, the gateway's client to the broker).
 */

/* A pem_password_cb that never gives one: an encrypted key is refused. */
int		 osslpem_no_passphrase(char *buf, int size, int rwflag,
		    void *arg);

/* The last OpenSSL error's reason (a static string), the queue emptied. */
const char	*osslpem_why(void);

#endif /* DROMOS_COMMON_OSSLPEM_H */
