/*
 * bench-khopen: OPEN throughput through the keyholder, audit chain on,
 * against AES-256-GCM decryption in this process (OpenSSL EVP), measured in
 * the same run.  Prints both rates and their ratio.
 *
 * dromosd execs this program in place of dromos-broker (bench/khopen.sh
 * writes the configuration), so it finds the keyholder on fd 3 exactly as
 * the broker does.  Requests are pipelined in windows of KH_WINDOW; the
 * keyholder answers each window as one batch with one audit write.
 */
#include <sys/types.h>

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "imsg/imsg.h"
#include "priv/khproto.h"

#define PLAIN_LEN	64
#define KH_WINDOW	128
#define SECONDS		3.0

static struct imsgbuf	 ibuf;
static uint32_t		 nextid = 1;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench-khopen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The code of a KH_R_ERROR answer, else 0. */
static uint32_t
error_code(struct imsg *imsg)
{
	struct imsg_reader	 r;
	uint32_t		 code = 0;

	if (imsg_get_type(imsg) == KH_R_ERROR) {
		imsg_reader_init(&r, imsg);
		(void)imsg_read_u32(&r, &code);
	}
	return code;
}

/*
 * Wait for and return the next message; its type must be want, or the
 * keyholder's rate limit (200000 a second) refused it, which the caller
 * counts.
 */
static void
expect(uint32_t want, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = ibuf.fd, .events = POLLIN };
	ssize_t		 n;

	for (;;) {
		if ((n = imsg_get(&ibuf, imsg)) == -1)
			die("imsg_get");
		if (n > 0)
			break;
		if (poll(&pfd, 1, 10000) <= 0)
			die("poll");
		if (imsgbuf_read(&ibuf) == 0) {
			errno = EPIPE;
			die("keyholder closed");
		}
	}
	if (imsg_get_type(imsg) != want && error_code(imsg) != KH_E_RATE) {
		fprintf(stderr, "bench-khopen: answer %u (error %u), wanted "
		    "%u\n", imsg_get_type(imsg), error_code(imsg), want);
		exit(1);
	}
}

static struct ibuf *
request(uint32_t type, size_t hint)
{
	struct ibuf	*m;

	if ((m = imsg_create(&ibuf, type, nextid++, 0, hint)) == NULL)
		die("imsg_create");
	return m;
}

static void
add_ad(struct ibuf *m)
{
	if (imsg_add_string(m, "bench") == -1 ||
	    imsg_add_string(m, "bench") == -1 ||
	    imsg_add_string(m, "row-1") == -1 ||
	    imsg_add_string(m, "value") == -1)
		die("imsg_add");
}

/* One sealed value to open again and again. */
static size_t
seal_one(uint8_t *sealed, size_t sz)
{
	struct imsg		 imsg;
	struct imsg_reader	 r;
	struct ibuf		*m;
	uint8_t			 plain[PLAIN_LEN];
	const void		*p;
	size_t			 len;
	uint32_t		 flags;

	memset(plain, 'p', sizeof(plain));
	m = request(KH_SEAL, 256);
	add_ad(m);
	if (imsg_add_lbytes(m, plain, sizeof(plain)) == -1 ||
	    imsg_close(&ibuf, m) == -1 || imsgbuf_flush(&ibuf) == -1)
		die("seal");
	expect(KH_R_SEALED, &imsg);
	imsg_reader_init(&r, &imsg);
	if (imsg_read_u32(&r, &flags) == -1 ||
	    imsg_read_lbytes(&r, &p, &len, sz) == -1)
		die("sealed answer");
	memcpy(sealed, p, len);
	imsg_free(&imsg);
	return len;
}

static double
bench_keyholder(const uint8_t *sealed, size_t len, unsigned long *countp,
    unsigned long *limitedp)
{
	struct imsg	 imsg;
	struct ibuf	*m;
	unsigned long	 count = 0, limited = 0;
	double		 t0 = now(), t;
	int		 i;

	do {
		for (i = 0; i < KH_WINDOW; i++) {
			m = request(KH_OPEN, 256 + len);
			add_ad(m);
			if (imsg_add_lbytes(m, sealed, len) == -1 ||
			    imsg_close(&ibuf, m) == -1)
				die("open");
		}
		if (imsgbuf_flush(&ibuf) == -1)
			die("flush");
		for (i = 0; i < KH_WINDOW; i++) {
			expect(KH_R_OPENED, &imsg);
			if (imsg_get_type(&imsg) == KH_R_OPENED)
				count++;
			else
				limited++;
			imsg_free(&imsg);
		}
	} while ((t = now() - t0) < SECONDS);
	*countp = count;
	*limitedp = limited;
	return (double)count / t;
}

static double
bench_evp(unsigned long *countp)
{
	EVP_CIPHER_CTX	*ctx;
	uint8_t		 key[32], iv[12], ad[64], plain[PLAIN_LEN];
	uint8_t		 ct[PLAIN_LEN], tag[16], out[PLAIN_LEN];
	unsigned long	 count = 0;
	double		 t0, t;
	int		 n, i;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	memset(ad, 'a', sizeof(ad));
	memset(plain, 'p', sizeof(plain));
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, ad, sizeof(ad)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, plain, sizeof(plain)) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		die("EVP encrypt");
	t0 = now();
	do {
		for (i = 0; i < 1024; i++) {
			/* A fresh context each time, as a server would. */
			if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL,
			    key, iv) != 1 ||
			    EVP_DecryptUpdate(ctx, NULL, &n, ad,
			    sizeof(ad)) != 1 ||
			    EVP_DecryptUpdate(ctx, out, &n, ct, sizeof(ct)) != 1 ||
			    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
			    tag) != 1 ||
			    EVP_DecryptFinal_ex(ctx, out + n, &n) != 1)
				die("EVP decrypt");
		}
		count += 1024;
	} while ((t = now() - t0) < SECONDS);
	EVP_CIPHER_CTX_free(ctx);
	*countp = count;
	return (double)count / t;
}

int
main(int argc, char *argv[])
{
	struct imsg	 imsg;
	struct ibuf	*m;
	uint8_t		 sealed[KH_SEALED_MAX];
	size_t		 len;
	unsigned long	 nk, ne, nl;
	double		 rk, re;
	FILE		*out = stdout;	/* dromosd's, shared */

	(void)argc;
	(void)argv;
	if (imsgbuf_init(&ibuf, KH_BROKER_FD) == -1)
		die("imsgbuf_init (run through bench/khopen.sh)");
	expect(KH_CONFIG, &imsg);
	imsg_free(&imsg);
	m = request(KH_KEYRING_INIT, 0);
	if (imsg_close(&ibuf, m) == -1 || imsgbuf_flush(&ibuf) == -1)
		die("keyring init");
	expect(KH_R_KEYRING, &imsg);
	imsg_free(&imsg);

	len = seal_one(sealed, sizeof(sealed));
	rk = bench_keyholder(sealed, len, &nk, &nl);
	re = bench_evp(&ne);
	fprintf(out, "khopen: keyholder OPEN over imsg, audit on, %d-byte "
	    "plaintexts: %.0f/s (%lu in %.0fs; %lu more refused by its rate "
	    "limit)\n", PLAIN_LEN, rk, nk, SECONDS, nl);
	fprintf(out, "khopen: in-process EVP AES-256-GCM decrypt: %.0f/s "
	    "(%lu)\n", re, ne);
	fprintf(out, "khopen: ratio keyholder/EVP = %.4f (goal >= 0.10)\n",
	    rk / re);
	fflush(out);
	imsgbuf_clear(&ibuf);
	return 0;
}
