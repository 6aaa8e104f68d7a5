/*
 * Unit tests for priv/config.c (dromos.conf) and the grammar helpers of
 * common/conf.c it is built on: a full configuration, defaults, the lexer's
 * corners, every class of error with its exact message and line, blocks,
 * file secrecy, loading, and redaction of the database password.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conf.h"
#include "priv/config.h"
#include "tests/priv/tests.h"

#define NAME	"dromos.conf"

/* The three statements without defaults. */
#define REQUIRED \
	"database \"dbname=dromos\"\n" \
	"root key file \"/etc/dromos/root.key\"\n" \
	"audit log \"/var/log/dromos/audit.log\"\n"

static char	 err[512];

static void
parse_ok(const char *text, struct dromos_conf *cf)
{
	int	 r;

	r = config_parse_buf(text, strlen(text), NAME, cf, err, sizeof(err));
	if (r != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(err, "");
}

static void
parse_err(const char *text, const char *want)
{
	struct dromos_conf	 cf;
	int			 r;

	r = config_parse_buf(text, strlen(text), NAME, &cf, err, sizeof(err));
	if (r == 0 || strcmp(err, want) != 0)
		print_error("input: %s\nwant: %s\ngot:  %s\n", text, want,
		    r == 0 ? "(success)" : err);
	assert_int_equal(r, -1);
	assert_string_equal(err, want);
	/* Nothing is left behind on error. */
	assert_null(cf.database);
	assert_null(cf.listen);
	config_free(&cf);
}

static void
test_full(void **state)
{
	struct dromos_conf	 cf;
	const char		*text =
	    "# A complete configuration.\n"
	    "run = \"/run/dromos\"\n"
	    "sock = \"/run/dromos/b.sock\"\n"
	    "\n"
	    "listen $sock\n"
	    "admin socket \"/run/dromos/a.sock\" group \"_dromosadm\"\n"
	    "database \"host=/run/postgresql dbname=dromos password=pw\"\n"
	    "root key tpm \"/etc/dromos/root.tpm\" \\\n"
	    "\ttcti \"swtpm:host=127.0.0.1,port=2321\" \\\n"
	    "\tpcrs \"sha256:0,7\"\n"
	    "audit log \"/var/log/dromos/audit.log\"\t# the chain\n"
	    "audit checkpoint every 500 lines\n"
	    "audit checkpoint interval 60\n"
	    "user keyholder _kh\n"
	    "user broker \"_br\"\n"
	    "broker path \"/opt/dromos/broker\"\n"
	    "keyring rotate after 1000 seals\n"
	    "access log keep 90 days\n"
	    "metrics listen \"[::1]:9101\"";	/* no final newline */

	(void)state;
	parse_ok(text, &cf);
	assert_string_equal(cf.listen, "/run/dromos/b.sock");
	assert_string_equal(cf.admin_socket, "/run/dromos/a.sock");
	assert_string_equal(cf.admin_group, "_dromosadm");
	assert_string_equal(cf.database,
	    "host=/run/postgresql dbname=dromos password=pw");
	assert_int_equal(cf.rootkey, ROOTKEY_TPM);
	assert_string_equal(cf.rootkey_path, "/etc/dromos/root.tpm");
	assert_string_equal(cf.tpm_tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_string_equal(cf.tpm_pcrs, "sha256:0,7");
	assert_string_equal(cf.audit_log, "/var/log/dromos/audit.log");
	assert_int_equal(cf.audit_every, 500);
	assert_int_equal(cf.audit_interval, 60);
	assert_string_equal(cf.user_keyholder, "_kh");
	assert_string_equal(cf.user_broker, "_br");
	assert_string_equal(cf.broker_path, "/opt/dromos/broker");
	assert_int_equal(cf.rotate_after, 1000);
	assert_int_equal(cf.access_keep, 90);
	assert_string_equal(cf.metrics_listen, "[::1]:9101");
	config_free(&cf);
	assert_null(cf.database);
}

static void
test_defaults(void **state)
{
	struct dromos_conf	 cf;

	(void)state;
	parse_ok(REQUIRED, &cf);
	assert_string_equal(cf.listen, CONFIG_LISTEN);
	assert_string_equal(cf.listen, "/run/dromos/broker.sock");
	assert_string_equal(cf.admin_socket, "/run/dromos/admin.sock");
	assert_null(cf.admin_group);
	assert_string_equal(cf.database, "dbname=dromos");
	assert_int_equal(cf.rootkey, ROOTKEY_FILE);
	assert_string_equal(cf.rootkey_path, "/etc/dromos/root.key");
	assert_null(cf.tpm_tcti);
	assert_null(cf.tpm_pcrs);
	assert_int_equal(cf.audit_every, 1000);
	assert_int_equal(cf.audit_interval, 300);
	assert_string_equal(cf.user_keyholder, "_dromoskey");
	assert_string_equal(cf.user_broker, "_dromos");
	assert_string_equal(cf.broker_path, DROMOS_BROKER_PATH);
	assert_int_equal(cf.rotate_after, 1073741824);
	assert_int_equal(cf.access_keep, 0);	/* every row kept */
	assert_null(cf.metrics_listen);
	config_free(&cf);
}

/* Comments, quotes, escapes, continuation lines, macros. */
static void
test_lexer(void **state)
{
	struct dromos_conf	 cf;

	(void)state;
	/* Escapes; "#" and "$" inside quotes are plain characters. */
	parse_ok("database \"a \\\"b\\\" \\\\ c#d $e\"\n"
	    "root key file /k\n"
	    "audit log \"/a\"\n", &cf);
	assert_string_equal(cf.database, "a \"b\" \\ c#d $e");
	assert_string_equal(cf.rootkey_path, "/k");
	config_free(&cf);

	/* A "#" outside quotes ends a word; tabs and blank lines. */
	parse_ok("\n\n   # only a comment\n\t\n"
	    "user\tbroker   _br#oker\n" REQUIRED "# last\n", &cf);
	assert_string_equal(cf.user_broker, "_br");
	config_free(&cf);

	/* Continuation: the keywords themselves may be split. */
	parse_ok("audit \\\n  checkpoint \\\n every \\\n  7\n" REQUIRED, &cf);
	assert_int_equal(cf.audit_every, 7);
	config_free(&cf);

	/* Macros: spaces in a value, one from another, redefinition. */
	parse_ok("db = \"host=/run/pg dbname=x\"\n"
	    "n = \"42\"\n"
	    "m = $n\n"
	    "n=\"43\"\n"
	    "database $db\n"
	    "audit checkpoint every $m\n"
	    "audit checkpoint interval $n seconds\n"
	    "root key file \"/k\"\naudit log \"/a\"\n", &cf);
	assert_string_equal(cf.database, "host=/run/pg dbname=x");
	assert_int_equal(cf.audit_every, 42);
	assert_int_equal(cf.audit_interval, 43);
	config_free(&cf);

	/* A macro is one argument, never syntax. */
	parse_err("kw = \"listen\"\n$kw \"/x\"\n",
	    NAME ":2: expected a keyword, got a string");

	/* Numbers may be quoted; a unit word is optional. */
	parse_ok("keyring rotate after \"2147483648\"\n" REQUIRED, &cf);
	assert_int_equal(cf.rotate_after, 2147483648ULL);
	config_free(&cf);
}

struct errcase {
	const char	*in;
	const char	*want;
};

static const struct errcase errcases[] = {
	/* Unknown keyword. */
	{ "database \"x\"\n\nlisen \"/run/x.sock\"\n",
	  NAME ":3: unknown keyword \"lisen\"" },
	{ "root key usb \"/x\"\n",
	  NAME ":1: \"root key\": expected file or tpm, got \"usb\"" },
	{ "audit foo\n",
	  NAME ":1: \"audit\": expected log or checkpoint, got \"foo\"" },
	{ "\"listen\" \"/a\"\n", NAME ":1: expected a keyword, got a string" },
	{ "}\n", NAME ":1: unexpected \"}\"" },
	/* Missing argument. */
	{ "listen\n", NAME ":1: \"listen\": missing argument" },
	{ "root key\n",
	  NAME ":1: \"root key\": missing argument, expected file or tpm" },
	{ "audit checkpoint every \\\n\n",
	  NAME ":1: \"audit checkpoint every\": missing argument" },
	{ "admin socket \"/a\" group\n",
	  NAME ":1: \"admin socket group\": missing argument" },
	{ "root key tpm \"/t\" tcti\n",
	  NAME ":1: \"root key tpm tcti\": missing argument" },
	/* Wrong type. */
	{ "audit checkpoint every many\n",
	  NAME ":1: \"audit checkpoint every\": expected a number, "
	  "got \"many\"" },
	{ "audit checkpoint every -5\n",
	  NAME ":1: \"audit checkpoint every\": expected a number, "
	  "got \"-5\"" },
	{ "keyring rotate after \"lots\"\n",
	  NAME ":1: \"keyring rotate after\": expected a number, "
	  "got a string" },
	{ "listen {\n}\n", NAME ":1: \"listen\": expected a string, got \"{\"" },
	{ "database \"\"\n", NAME ":1: \"database\": empty string" },
	{ "database \" \t \"\n", NAME ":1: \"database\": empty string" },
	/* Duplicates. */
	{ "listen \"/a\"\n# c\nlisten \"/b\"\n",
	  NAME ":3: duplicate \"listen\" statement (first on line 1)" },
	{ "root key file \"/k\"\nroot key tpm \"/t\"\n",
	  NAME ":2: duplicate \"root key\" statement (first on line 1)" },
	{ "root key tpm \"/t\" tcti \"a\" tcti \"b\"\n",
	  NAME ":1: \"root key tpm\": \"tcti\" given twice" },
	/* Out of range. */
	{ "keyring rotate after 0\n",
	  NAME ":1: \"keyring rotate after\": 0 is out of range "
	  "(1 to 2147483648)" },
	{ "access log keep 0 days\n",
	  NAME ":1: \"access log keep\": 0 is out of range (1 to 36500)" },
	{ "access log keep 36501\n",
	  NAME ":1: \"access log keep\": 36501 is out of range (1 to 36500)" },
	{ "keyring rotate after 2147483649 seals\n",
	  NAME ":1: \"keyring rotate after\": 2147483649 is out of range "
	  "(1 to 2147483648)" },
	{ "keyring rotate after 99999999999999999999999999999\n",
	  NAME ":1: \"keyring rotate after\": 999999999999999999999999... "
	  "is out of range (1 to 2147483648)" },
	{ "audit checkpoint interval 86401 seconds\n",
	  NAME ":1: \"audit checkpoint interval\": 86401 is out of range "
	  "(1 to 86400)" },
	{ "audit checkpoint every 1000001\n",
	  NAME ":1: \"audit checkpoint every\": 1000001 is out of range "
	  "(1 to 1000000)" },
	/* Paths. */
	{ "audit log \"var/log/a\"\n",
	  NAME ":1: \"audit log\": \"var/log/a\" is not an absolute path" },
	{ "listen \\\n  \"rel\"\n",
	  NAME ":2: \"listen\": \"rel\" is not an absolute path" },
	{ "broker path ./dromos-broker\n",
	  NAME ":1: \"broker path\": \"./dromos-broker\" is not an absolute "
	  "path" },
	{ "listen \"/run/dromos/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.sock\"\n",
	  NAME ":1: \"listen\": path too long for a unix socket "
	  "(at most 107 bytes)" },
	/* Trailing words. */
	{ "listen \"/a\" extra\n", NAME ":1: \"listen\": unexpected \"extra\"" },
	{ "listen \"/a\" \"/b\"\n", NAME ":1: \"listen\": unexpected string" },
	{ "listen \"/a\" {\n}\n", NAME ":1: \"listen\": unexpected \"{\"" },
	{ "audit checkpoint every 5 seconds\n",
	  NAME ":1: \"audit checkpoint every\": unexpected \"seconds\"" },
	{ "listen = \"/a\"\nlisten \"/a\" = 3\n",
	  NAME ":2: \"listen\": unexpected \"=\"" },
	/* Values. */
	{ "user broker \"bad name\"\n",
	  NAME ":1: \"user broker\": invalid name \"bad name\"" },
	{ "user keyholder root\n",
	  NAME ":1: \"user keyholder\": must not be root" },
	{ "admin socket \"/a\" group \"-x\"\n",
	  NAME ":1: \"admin socket group\": invalid name \"-x\"" },
	{ "root key tpm \"/t\" pcrs \"sha256:0,24\"\n",
	  NAME ":1: \"root key tpm pcrs\": invalid PCR selection "
	  "\"sha256:0,24\" (want e.g. sha256:0,7)" },
	{ "root key tpm \"/t\" pcrs \"md5:0\"\n",
	  NAME ":1: \"root key tpm pcrs\": invalid PCR selection "
	  "\"md5:0\" (want e.g. sha256:0,7)" },
	{ "root key tpm \"/t\" pcrs \"sha256:7,7\"\n",
	  NAME ":1: \"root key tpm pcrs\": invalid PCR selection "
	  "\"sha256:7,7\" (want e.g. sha256:0,7)" },
	{ "root key tpm \"/t\" pcrs \"sha1:7\"\n",
	  NAME ":1: \"root key tpm pcrs\": invalid PCR selection "
	  "\"sha1:7\" (want e.g. sha256:0,7)" },
	{ "allow return url \"http://app.example/x\"\n",
	  NAME ":1: \"allow return url\": expected https://host[:port]/path "
	  "(or http:// to a loopback host), got \"http://app.example/x\"" },
	{ "allow return url \"https://app.example\"\n",
	  NAME ":1: \"allow return url\": expected a URL with a path, e.g. "
	  "\"https://app.example/done\", got \"https://app.example\"" },
	{ "public url \"http://example.com\"\n",
	  NAME ":1: \"public url\": expected https://host[:port] (or "
	  "http:// to a loopback host), got \"http://example.com\"" },
	{ "public url \"https://gw.example/v1\"\n",
	  NAME ":1: \"public url\": expected https://host[:port] (or "
	  "http:// to a loopback host), got \"https://gw.example/v1\"" },
	{ "metrics listen \"localhost\"\n",
	  NAME ":1: \"metrics listen\": expected host:port, got \"localhost\"" },
	{ "metrics listen \"::1:9101\"\n",
	  NAME ":1: \"metrics listen\": expected host:port, got \"::1:9101\"" },
	{ "metrics listen \"h:65536\"\n",
	  NAME ":1: \"metrics listen\": expected host:port, got \"h:65536\"" },
	/* Plain HTTP without authentication: loopback, numeric, only. */
	{ "metrics listen \"10.0.0.1:9101\"\n",
	  NAME ":1: \"metrics listen\": metrics are plain HTTP and only served "
	  "on a numeric loopback address (like 127.0.0.1:9101 or "
	  "[::1]:9101), got \"10.0.0.1:9101\"" },
	{ "metrics listen \"0.0.0.0:9101\"\n",
	  NAME ":1: \"metrics listen\": metrics are plain HTTP and only served "
	  "on a numeric loopback address (like 127.0.0.1:9101 or "
	  "[::1]:9101), got \"0.0.0.0:9101\"" },
	{ "metrics listen \"[::]:9101\"\n",
	  NAME ":1: \"metrics listen\": metrics are plain HTTP and only served "
	  "on a numeric loopback address (like 127.0.0.1:9101 or "
	  "[::1]:9101), got \"[::]:9101\"" },
	{ "metrics listen \"localhost:9101\"\n",
	  NAME ":1: \"metrics listen\": metrics are plain HTTP and only served "
	  "on a numeric loopback address (like 127.0.0.1:9101 or "
	  "[::1]:9101), got \"localhost:9101\"" },
	{ "metrics listen \"[::ffff:10.0.0.1]:9101\"\n",
	  NAME ":1: \"metrics listen\": metrics are plain HTTP and only served "
	  "on a numeric loopback address (like 127.0.0.1:9101 or "
	  "[::1]:9101), got \"[::ffff:10.0.0.1]:9101\"" },
	/* The broker's API over TLS. */
	{ "listen tls \"localhost:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":1: \"listen tls\": expected a numeric address and port "
	  "(like 0.0.0.0:8444, [::]:8444 or 192.0.2.10:8444), got "
	  "\"localhost:8444\"" },
	{ "listen tls \"::1:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":1: \"listen tls\": expected a numeric address and port "
	  "(like 0.0.0.0:8444, [::]:8444 or 192.0.2.10:8444), got "
	  "\"::1:8444\"" },
	{ "listen tls \"0.0.0.0:0\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":1: \"listen tls\": expected a numeric address and port "
	  "(like 0.0.0.0:8444, [::]:8444 or 192.0.2.10:8444), got "
	  "\"0.0.0.0:0\"" },
	{ "listen tls \"0.0.0.0:8444\"\n",
	  NAME ":1: \"listen tls\": needs certificate, key and client ca "
	  "(missing certificate)" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" client ca "
	  "\"/ca\"\n",
	  NAME ":1: \"listen tls\": needs certificate, key and client ca "
	  "(missing key)" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\"\n",
	  NAME ":1: \"listen tls\": needs certificate, key and client ca "
	  "(missing client ca)" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "client \"/ca\"\n",
	  NAME ":1: \"listen tls\": expected \"client ca\" or \"client crl\"" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\" client crl \"/r\" client crl \"/r2\"\n",
	  NAME ":1: \"listen tls client crl\" given twice" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\" client crl \"crl.pem\"\n",
	  NAME ":1: \"listen tls client crl\": \"crl.pem\" is not an absolute path" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "key \"/k2\" client ca \"/ca\"\n",
	  NAME ":1: \"listen tls key\" given twice" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"c.pem\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":1: \"listen tls certificate\": \"c.pem\" is not an "
	  "absolute path" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\" port 8445\n",
	  NAME ":1: \"listen tls\": unexpected \"port\"" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n"
	  "listen tls \"0.0.0.0:8445\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":2: duplicate \"listen tls\" statement (first on line 1)" },
	{ "listen tls \"0.0.0.0:8444\" certificate \"/c\xc3\xa9\" "
	  "key \"/k\" client ca \"/ca\"\n",
	  NAME ":1: \"listen tls certificate\": the path must be printable "
	  "ASCII" },
	{ REQUIRED "metrics listen \"127.0.0.1:9101\"\n"
	  "listen tls \"0.0.0.0:9101\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":5: \"listen tls\" and \"metrics listen\" would share a "
	  "port" },
	{ REQUIRED "metrics listen \"[::1]:9101\"\n"
	  "listen tls \"[::1]:9101\" certificate \"/c\" key \"/k\" "
	  "client ca \"/ca\"\n",
	  NAME ":5: \"listen tls\" and \"metrics listen\" would share a "
	  "port" },
	/* The lexer. */
	{ "listen \"/a\n", NAME ":1: unterminated quoted string" },
	{ "\n\nlisten \"/a", NAME ":3: unterminated quoted string" },
	{ "listen \"/a\\", NAME ":1: unterminated quoted string" },
	{ "listen \"a\\nb\"\n",
	  NAME ":1: invalid escape \"\\n\" in a quoted string" },
	{ "listen \"/a\" \\ \n", NAME ":1: \"\\\" is not at the end of the line" },
	{ "listen \"/a\x01\"\n", NAME ":1: invalid character 0x01" },
	{ "\nlisten /a\x7f\n", NAME ":2: invalid character 0x7f" },
	{ "listen \"/a\"\r\n", NAME ":1: invalid character 0x0d" },
	/* Macros. */
	{ "listen $sock\n", NAME ":1: undefined macro \"$sock\"" },
	{ "listen $\n", NAME ":1: invalid macro name \"$\"" },
	{ "listen $a-b\n", NAME ":1: invalid macro name \"$a-b\"" },
	{ "$x = \"y\"\n", NAME ":1: invalid macro name \"$x\"" },
	{ "\"x\" = \"y\"\n", NAME ":1: expected a keyword, got a string" },
	{ "x =\n", NAME ":1: macro \"x\": missing value" },
	{ "x = \"a\" \"b\"\n", NAME ":1: macro \"x\": unexpected string" },
	{ "x = {\n", NAME ":1: macro \"x\": expected a value, got \"{\"" },
	/* Statements that need each other. */
	{ "", NAME ": no \"database\" statement" },
	{ "database \"x\"\naudit log \"/a\"\n",
	  NAME ": no \"root key\" statement" },
	{ "database \"x\"\nroot key file \"/k\"\n",
	  NAME ": no \"audit log\" statement" },
	{ REQUIRED "listen \"/s\"\nadmin socket \"/s\"\n",
	  NAME ": \"listen\" and \"admin socket\" name the same path" },
	{ REQUIRED "user broker _dromoskey\n",
	  NAME ": \"user keyholder\" and \"user broker\" name the same user" },
	/* Continuation lines count. */
	{ "database \\\n \"x\"\nlisen\n", NAME ":3: unknown keyword \"lisen\"" },
};

static void
test_errors(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(errcases) / sizeof(errcases[0]); i++)
		parse_err(errcases[i].in, errcases[i].want);
}

/* The first error wins; the input after it is never looked at. */
static void
test_first_error(void **state)
{
	(void)state;
	parse_err("lisen \"/a\"\nlisten \"rel\"\n\"unterminated\n",
	    NAME ":1: unknown keyword \"lisen\"");
}

/* Quoted strings and macros never appear in messages: passwords. */
static void
test_errors_hide_secrets(void **state)
{
	static const char *const in[] = {
		"database \"password=hunter2\" \"password=hunter2\"\n",
		"pw = \"password=hunter2\"\ndatabase $pw $pw\n",
		"pw = \"password=hunter2\"\naudit checkpoint every $pw\n",
		"database \"password=hunter2\" {\n",
		"pw = \"hunter2\"\nx = $pw $pw\n",
		"audit checkpoint every \"hunter2\"\n",
	};
	struct dromos_conf	 cf;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(config_parse_buf(in[i], strlen(in[i]), NAME,
		    &cf, err, sizeof(err)), -1);
		assert_null(strstr(err, "hunter2"));
		assert_non_null(strstr(err, NAME ":"));
	}
}

/* Every prefix of a valid file parses or fails cleanly. */
static void
test_prefixes(void **state)
{
	static const char	 text[] =
	    "a = \"/x\"\nlisten $a\nadmin socket \"/b\" group g\n"
	    "root key tpm \"/t\" tcti \"x\" pcrs \"sha256:1,2\"\n"
	    "database \"d\\\"\\\\\"\naudit log /l\n"
	    "keyring \\\n rotate after 5 seals\n";
	struct dromos_conf	 cf;
	size_t			 n;
	int			 ok = 0;

	(void)state;
	for (n = 0; n <= sizeof(text) - 1; n++) {
		if (config_parse_buf(text, n, NAME, &cf, err,
		    sizeof(err)) == 0) {
			ok++;
			config_free(&cf);
		} else
			assert_int_equal(strncmp(err, NAME ":", 12), 0);
	}
	assert_true(ok > 0);
	/* A NUL inside the buffer is refused, not a terminator. */
	assert_int_equal(config_parse_buf(REQUIRED "\0x", sizeof(REQUIRED) + 1,
	    NAME, &cf, err, sizeof(err)), -1);
	assert_string_equal(err, NAME ":4: invalid character 0x00");
}

/* The generic blocks of common/conf.c, with a grammar of their own. */
struct blk {
	uint64_t	 port;
	char		*name;
	int		 servers;
};

static int	 kw_server(struct conf *, struct conf_stmt *,
		    const struct conf_keyword *, void *);

static const struct conf_keyword inner[] = {
	{ .phrase = "port", .parse = conf_set_number,
	    .off = offsetof(struct blk, port), .min = 1, .max = 65535 },
	{ .phrase = "server", .flags = CONF_MULTI, .parse = kw_server },
	{ .phrase = "name", .parse = conf_set_string,
	    .off = offsetof(struct blk, name) },
};
static const struct conf_keyword outer[] = {
	{ .phrase = "server", .flags = CONF_MULTI, .parse = kw_server },
	{ .phrase = "name", .parse = conf_set_string,
	    .off = offsetof(struct blk, name) },
};

static int
kw_server(struct conf *c, struct conf_stmt *st, const struct conf_keyword *kw,
    void *base)
{
	struct blk	*b = base;
	char		*s;

	(void)kw;
	if (conf_string(c, st, &s) == -1)
		return -1;
	conf_strfree(&s);
	b->servers++;
	return conf_block(c, st, inner, sizeof(inner) / sizeof(inner[0]),
	    base);
}

static int
blk_parse(const char *text, struct blk *b)
{
	struct conf	 c;
	int		 r;

	memset(b, 0, sizeof(*b));
	conf_init(&c, "t.conf", text, strlen(text), err, sizeof(err));
	r = conf_parse(&c, outer, sizeof(outer) / sizeof(outer[0]), b);
	conf_free(&c);
	conf_strfree(&b->name);
	return r;
}

static void
test_blocks(void **state)
{
	struct blk	 b;
	char		 deep[512];
	int		 i;

	(void)state;
	assert_int_equal(blk_parse("server a {\n port 80\n}\n"
	    "server \"b\" { port 81 }\nname x\n", &b), 0);
	assert_int_equal(b.servers, 2);
	assert_int_equal(b.port, 81);
	/* Duplicates are judged per block. */
	assert_int_equal(blk_parse("server a {\n port 1\n port 2\n}\n", &b),
	    -1);
	assert_string_equal(err,
	    "t.conf:3: duplicate \"port\" statement (first on line 2)");
	/* A block's keywords are not the file's. */
	assert_int_equal(blk_parse("server a {\n nom x\n}\n", &b), -1);
	assert_string_equal(err, "t.conf:2: unknown keyword \"nom\"");
	/* What a block says once does not count outside it. */
	assert_int_equal(blk_parse("server a {\n name x\n}\nname y\n", &b),
	    0);
	assert_int_equal(blk_parse("port 1\n", &b), -1);
	assert_string_equal(err, "t.conf:1: unknown keyword \"port\"");
	assert_int_equal(blk_parse("server a {\n port 80\n\n", &b), -1);
	assert_string_equal(err,
	    "t.conf:1: \"server\": no \"}\" closes this block");
	assert_int_equal(blk_parse("server a\n{\n}\n", &b), -1);
	assert_string_equal(err, "t.conf:1: \"server\": missing \"{\"");
	assert_int_equal(blk_parse("server a x {\n}\n", &b), -1);
	assert_string_equal(err,
	    "t.conf:1: \"server\": expected \"{\", got \"x\"");
	assert_int_equal(blk_parse("server a {\n}\n}\n", &b), -1);
	assert_string_equal(err, "t.conf:3: unexpected \"}\"");
	assert_int_equal(blk_parse("name x\nname y\n", &b), -1);
	assert_string_equal(err,
	    "t.conf:2: duplicate \"name\" statement (first on line 1)");
	/* Nesting is bounded. */
	deep[0] = '\0';
	for (i = 0; i < CONF_DEPTH_MAX; i++)
		strcat(deep, "server s {\n");
	assert_int_equal(blk_parse(deep, &b), -1);
	assert_string_equal(err,
	    "t.conf:8: \"server\": no \"}\" closes this block");
	strcat(deep, "server s {\n");
	assert_int_equal(blk_parse(deep, &b), -1);
	assert_string_equal(err, "t.conf:9: blocks nested too deeply");
}

/* Limits on tokens, words and macros. */
static void
test_limits(void **state)
{
	struct dromos_conf	 cf;
	char			*big;
	size_t			 i, o;

	(void)state;
	big = malloc(CONF_TOKEN_MAX * 2 + 64);
	assert_non_null(big);
	/* The longest quoted string is accepted, one byte more is not. */
	o = (size_t)sprintf(big, "database \"");
	memset(big + o, 'a', CONF_TOKEN_MAX);
	o += CONF_TOKEN_MAX;
	strcpy(big + o, "\"\nroot key file /k\naudit log /a\n");
	parse_ok(big, &cf);
	assert_int_equal(strlen(cf.database), CONF_TOKEN_MAX);
	config_free(&cf);
	o = (size_t)sprintf(big, "database \"");
	memset(big + o, 'a', CONF_TOKEN_MAX + 1);
	strcpy(big + o + CONF_TOKEN_MAX + 1, "\"\n");
	parse_err(big, NAME ":1: quoted string too long");
	o = (size_t)sprintf(big, "database ");
	memset(big + o, 'a', CONF_TOKEN_MAX + 1);
	strcpy(big + o + CONF_TOKEN_MAX + 1, "\n");
	parse_err(big, NAME ":1: word too long");
	/* Too many words. */
	o = (size_t)sprintf(big, "listen");
	for (i = 0; i < CONF_ARGS_MAX; i++)
		o += (size_t)sprintf(big + o, " x");
	strcpy(big + o, "\n");
	parse_err(big, NAME ":1: too many words in one statement");
	free(big);
	/* Too many macros. */
	big = malloc(CONF_MACROS_MAX * 16 + 64);
	assert_non_null(big);
	for (o = 0, i = 0; i <= CONF_MACROS_MAX; i++)
		o += (size_t)sprintf(big + o, "m%zu = x\n", i);
	parse_err(big, NAME ":257: too many macros");
	free(big);
}

static void
test_redact_conninfo(void **state)
{
	static const struct errcase cases[] = {
		{ "host=/run/postgresql dbname=dromos",
		  "host=/run/postgresql dbname=dromos" },
		{ "host=h password=hunter2 dbname=d",
		  "host=h password=[redacted] dbname=d" },
		{ "  password = 'hun ter\\'2'  user=u",
		  "password=[redacted] user=u" },
		{ "sslpassword=hunter2 PASSWORD=hunter2",
		  "sslpassword=[redacted] PASSWORD=[redacted]" },
		{ "password= host=hunter2", "password=[redacted]" },
		{ "password=hun\\ ter2 x=y", "password=[redacted] x=y" },
		{ "postgresql://u:hunter2@h:5432/db?sslmode=require",
		  "postgresql://u:[redacted]@h:5432/db?sslmode=require" },
		{ "postgres://u@h/db?password=hunter2&x=1",
		  "postgres://u@h/db?password=[redacted]&x=1" },
		{ "postgresql://u:hun@ter2@h/db",
		  "postgresql://u:[redacted]@h/db" },
		{ "postgresql://h/db?pass%77ord=hunter2",
		  "postgresql://h/db?pass%77ord=[redacted]" },
		{ "postgresql://h/db", "postgresql://h/db" },
		{ "  postgresql://u:hunter2@h/db",
		  "postgresql://u:[redacted]@h/db" },
		/* What does not parse is hidden entirely. */
		{ "password='hunter2", "[redacted]" },
		{ "hunter2", "[redacted]" },
		{ "x=1 =hunter2", "[redacted]" },
		{ "password=hunter2\\", "[redacted]" },
	};
	char	 out[256];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_redact_conninfo(cases[i].in, out,
		    sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
		assert_null(strstr(out, "hunter2"));
	}
	/* Too small: nothing but the marker. */
	assert_int_equal(config_redact_conninfo("host=h password=hunter2",
	    out, 16), -1);
	assert_string_equal(out, "[redacted]");
}

static char *
dump(const struct dromos_conf *cf)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	config_dump(cf, fp);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* "listen tls" next to the unix socket, and what it may share a port with. */
static void
test_tls(void **state)
{
	static const char *const addrs[] = {
		"0.0.0.0:8444", "[::]:8444", "192.0.2.10:8444",
		"[2001:db8::10]:8444", "127.0.0.1:8444",
	};
	struct dromos_conf	 cf;
	char			 text[1024];
	size_t			 i;

	(void)state;
	parse_ok(REQUIRED "listen \"/run/b.sock\"\n"
	    "listen tls \"0.0.0.0:8444\" certificate \"/etc/dromos/b.crt\" "
	    "key \"/etc/dromos/b.key\" client ca \"/etc/dromos/gw-ca.pem\"\n",
	    &cf);
	assert_string_equal(cf.listen, "/run/b.sock");
	assert_string_equal(cf.tls_listen, "0.0.0.0:8444");
	assert_string_equal(cf.tls_cert, "/etc/dromos/b.crt");
	assert_string_equal(cf.tls_key, "/etc/dromos/b.key");
	assert_string_equal(cf.tls_ca, "/etc/dromos/gw-ca.pem");
	assert_null(cf.tls_crl);
	assert_int_equal(cf.tls_line, 5);
	config_free(&cf);
	assert_null(cf.tls_listen);

	/* A client CRL, anywhere among the files. */
	parse_ok(REQUIRED "listen tls \"0.0.0.0:8444\" client crl /crl "
	    "certificate /c key /k client ca /ca\n", &cf);
	assert_string_equal(cf.tls_crl, "/crl");
	assert_string_equal(cf.tls_ca, "/ca");
	config_free(&cf);
	assert_null(cf.tls_crl);

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(text, sizeof(text), REQUIRED "listen tls \"%s\" "
		    "client ca /ca key /k certificate /c\n", addrs[i]);
		parse_ok(text, &cf);
		assert_string_equal(cf.tls_listen, addrs[i]);
		config_free(&cf);
	}

	/* Without it, nothing: the broker serves its unix socket only. */
	parse_ok(REQUIRED, &cf);
	assert_null(cf.tls_listen);
	assert_null(cf.tls_cert);
	/* No file is read before config_load: this one does not exist. */
	assert_int_equal(config_check_tls(&cf, NAME, err, sizeof(err)), 0);
	config_free(&cf);

	/* Other ports, or other families, do not clash with the metrics. */
	parse_ok(REQUIRED "metrics listen 127.0.0.1:9101\n"
	    "listen tls \"[::]:9101\" certificate /c key /k client ca /ca\n",
	    &cf);
	config_free(&cf);
	parse_ok(REQUIRED "metrics listen 127.0.0.1:9101\n"
	    "listen tls \"127.0.0.2:9101\" certificate /c key /k client ca "
	    "/ca\n", &cf);
	config_free(&cf);
	parse_ok(REQUIRED "metrics listen 127.0.0.1:9101\n"
	    "listen tls \"0.0.0.0:9102\" certificate /c key /k client ca "
	    "/ca\n", &cf);
	config_free(&cf);
}

static void
test_dump(void **state)
{
	struct dromos_conf	 cf, again;
	char			*out, *out2;

	(void)state;
	parse_ok("database \"host=/run/postgresql password=hunter2 "
	    "dbname=\\\"q\\\"\"\n"
	    "root key tpm \"/t\" tcti \"swtpm:port=2321\" pcrs \"sha256:0,7\"\n"
	    "audit log \"/var/log/a b\"\n"
	    "admin socket \"/run/a.sock\" group _dromosadm\n"
	    "metrics listen 127.0.0.1:9101\n"
	    "access log keep 30\n"
	    "listen tls \"[::]:8444\" key \"/k\" client ca \"/ca\" \\\n"
	    "    certificate \"/c\" client crl \"/c r l\"\n", &cf);
	out = dump(&cf);
	assert_non_null(strstr(out, "listen tls \"[::]:8444\" certificate "
	    "\"/c\" key \"/k\" client ca \"/ca\" client crl \"/c r l\"\n"));
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, "database \"host=/run/postgresql "
	    "password=[redacted] dbname=\\\"q\\\"\"\n"));
	assert_non_null(strstr(out, "root key tpm \"/t\" tcti "
	    "\"swtpm:port=2321\" pcrs \"sha256:0,7\"\n"));
	assert_non_null(strstr(out, "audit checkpoint every 1000 lines\n"));
	assert_non_null(strstr(out, "keyring rotate after 1073741824 seals\n"));
	assert_non_null(strstr(out, "access log keep 30 days\n"));
	/* The dump is a configuration: it parses to the same values. */
	parse_ok(out, &again);
	out2 = dump(&again);
	assert_string_equal(out, out2);
	assert_string_equal(again.audit_log, "/var/log/a b");
	assert_string_equal(again.admin_group, "_dromosadm");
	assert_string_equal(again.metrics_listen, "127.0.0.1:9101");
	assert_string_equal(again.tls_listen, "[::]:8444");
	assert_string_equal(again.tls_cert, "/c");
	assert_string_equal(again.tls_key, "/k");
	assert_string_equal(again.tls_ca, "/ca");
	assert_string_equal(again.tls_crl, "/c r l");
	assert_int_equal(again.access_keep, 30);
	free(out);
	free(out2);
	config_free(&again);
	config_free(&cf);
}

/* Files. */

static char	 tmpdir[] = "/tmp/dromos-conf-XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char	 cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int	 fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static int
secrecy(const char *path)
{
	int	 fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = config_check_file_secrecy(fd, path, err, sizeof(err));
	close(fd);
	return r;
}

static void
test_secrecy(void **state)
{
	char	 path[256], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/key", tmpdir);
	write_file(path, "k", 1, 0600);
	assert_int_equal(secrecy(path), 0);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(secrecy(path), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(secrecy(path), -1);
	snprintf(want, sizeof(want), "%s: mode 0640 lets group or others in "
	    "(chmod 600 it)", path);
	assert_string_equal(err, want);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(secrecy(path), -1);
	snprintf(want, sizeof(want), "%s: mode 0604 lets group or others in "
	    "(chmod 600 it)", path);
	assert_string_equal(err, want);
	assert_int_equal(chmod(path, 0610), 0);
	assert_int_equal(secrecy(path), -1);
	/* Not a regular file. */
	assert_int_equal(secrecy(tmpdir), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	assert_string_equal(err, want);
}

static void
test_secrecy_owner(void **state)
{
	char	 path[256], want[512];

	(void)state;
	if (geteuid() != 0) {
		/*
		 * Only root can give a file away, and a file root owns is
		 * acceptable by design.
		 */
		skip();
	}
	snprintf(path, sizeof(path), "%s/theirs", tmpdir);
	write_file(path, "k", 1, 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(secrecy(path), -1);
	snprintf(want, sizeof(want), "%s: owned by uid 65534, not by root or "
	    "uid 0", path);
	assert_string_equal(err, want);
}

static void
test_load(void **state)
{
	struct dromos_conf	 cf;
	char			 path[256], link[256], want[512], *big;

	(void)state;
	snprintf(path, sizeof(path), "%s/dromos.conf", tmpdir);
	write_file(path, REQUIRED, strlen(REQUIRED), 0600);
	assert_int_equal(config_load(path, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.database, "dbname=dromos");
	config_free(&cf);

	/* Errors name the path as given. */
	write_file(path, REQUIRED "lisen /x\n", strlen(REQUIRED) + 9, 0600);
	assert_int_equal(config_load(path, &cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: unknown keyword \"lisen\"", path);
	assert_string_equal(err, want);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(path, &cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: mode 0644 lets group or others in "
	    "(chmod 600 it)", path);
	assert_string_equal(err, want);
	assert_null(cf.database);

	/* Never through a symbolic link. */
	write_file(path, REQUIRED, strlen(REQUIRED), 0600);
	snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(config_load(link, &cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: is a symbolic link", link);
	assert_string_equal(err, want);

	snprintf(link, sizeof(link), "%s/absent.conf", tmpdir);
	assert_int_equal(config_load(link, &cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s", link, strerror(ENOENT));
	assert_string_equal(err, want);

	/* Size: 1 MiB of comment is fine with the rest, one byte more not. */
	big = malloc(CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memcpy(big, REQUIRED, strlen(REQUIRED));
	memset(big + strlen(REQUIRED), '#', CONFIG_FILE_MAX - strlen(REQUIRED));
	big[CONFIG_FILE_MAX] = '\n';
	write_file(path, big, CONFIG_FILE_MAX, 0600);
	assert_int_equal(config_load(path, &cf, err, sizeof(err)), 0);
	config_free(&cf);
	write_file(path, big, CONFIG_FILE_MAX + 1, 0600);
	assert_int_equal(config_load(path, &cf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: larger than %d bytes", path,
	    CONFIG_FILE_MAX);
	assert_string_equal(err, want);
	free(big);
}

/* A self-signed certificate and its key, made with the openssl tool. */
static void
make_cert(const char *name)
{
	char	 cmd[1024];

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout '%s/%s.key' -out "
	    "'%s/%s.crt' -days 2 -subj /CN=%s 2>/dev/null && chmod 600 "
	    "'%s/%s.key'", tmpdir, name, tmpdir, name, name, tmpdir, name);
	assert_int_equal(system(cmd), 0);
}

/* config_load with "listen tls" and its files: err for the last line. */
static int
load_tls(const char *crt, const char *key, const char *ca)
{
	struct dromos_conf	 cf;
	char			 path[256], text[2048];
	int			 r;

	snprintf(path, sizeof(path), "%s/tls.conf", tmpdir);
	snprintf(text, sizeof(text), REQUIRED "listen tls \"0.0.0.0:8444\" "
	    "certificate \"%s/%s\" \\\n  key \"%s/%s\" client ca \"%s/%s\"\n",
	    tmpdir, crt, tmpdir, key, tmpdir, ca);
	write_file(path, text, strlen(text), 0600);
	r = config_load(path, &cf, err, sizeof(err));
	if (r == 0) {
		assert_non_null(cf.tls_key);
		config_free(&cf);
	} else
		assert_null(cf.tls_listen);
	return r;
}

static void
want_err(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));

static void
want_err(const char *fmt, ...)
{
	char	 want[1024];
	int	 n;
	va_list	 ap;

	n = snprintf(want, sizeof(want), "%s/tls.conf:4: \"listen tls\": ",
	    tmpdir);
	va_start(ap, fmt);
	vsnprintf(want + n, sizeof(want) - (size_t)n, fmt, ap);
	va_end(ap);
	assert_string_equal(err, want);
}

static void
test_load_tls(void **state)
{
	char	 a[256], b[256], cmd[1024];

	(void)state;
	make_cert("srv");
	make_cert("ca");
	make_cert("other");
	assert_int_equal(load_tls("srv.crt", "srv.key", "ca.crt"), 0);
	/* Several CAs in one file. */
	snprintf(cmd, sizeof(cmd), "cat '%s/ca.crt' '%s/other.crt' > "
	    "'%s/both.pem'", tmpdir, tmpdir, tmpdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(load_tls("srv.crt", "srv.key", "both.pem"), 0);

	assert_int_equal(load_tls("srv.crt", "other.key", "ca.crt"), -1);
	want_err("key %s/other.key does not match certificate %s/srv.crt",
	    tmpdir, tmpdir);
	assert_int_equal(load_tls("srv.crt", "srv.key", "absent.pem"), -1);
	want_err("client ca %s/absent.pem: %s", tmpdir, strerror(ENOENT));
	assert_int_equal(load_tls("srv.crt", "srv.key", "srv.key"), -1);
	want_err("client ca %s/srv.key: no PEM certificate in it", tmpdir);
	assert_int_equal(load_tls("srv.key", "srv.key", "ca.crt"), -1);
	want_err("certificate %s/srv.key: no PEM certificate in it", tmpdir);
	assert_int_equal(load_tls("srv.crt", "srv.crt", "ca.crt"), -1);
	want_err("key %s/srv.crt: mode 0644 lets group or others in "
	    "(chmod 600 it)", tmpdir);

	/* A CA file with a certificate, then a broken one. */
	snprintf(cmd, sizeof(cmd), "(cat '%s/ca.crt'; printf -- '-----BEGIN "
	    "CERTIFICATE-----\\nMIIBbroken\\n-----END CERTIFICATE-----\\n') > "
	    "'%s/mixed.pem'", tmpdir, tmpdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(load_tls("srv.crt", "srv.key", "mixed.pem"), -1);
	want_err("client ca %s/mixed.pem: a certificate in it does not parse",
	    tmpdir);

	/* The key: mode, a link, a passphrase, no key at all. */
	snprintf(a, sizeof(a), "%s/srv.key", tmpdir);
	assert_int_equal(chmod(a, 0640), 0);
	assert_int_equal(load_tls("srv.crt", "srv.key", "ca.crt"), -1);
	want_err("key %s/srv.key: mode 0640 lets group or others in "
	    "(chmod 600 it)", tmpdir);
	assert_int_equal(chmod(a, 0600), 0);
	snprintf(b, sizeof(b), "%s/link.key", tmpdir);
	assert_int_equal(symlink(a, b), 0);
	assert_int_equal(load_tls("srv.crt", "link.key", "ca.crt"), -1);
	want_err("key %s/link.key: is a symbolic link", tmpdir);
	snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -aes256 -passout "
	    "pass:secret -out '%s/enc.key' && chmod 600 '%s/enc.key'", a,
	    tmpdir, tmpdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(load_tls("srv.crt", "enc.key", "ca.crt"), -1);
	want_err("key %s/enc.key: no PEM private key in it (an encrypted key "
	    "is refused: the broker has no passphrase)", tmpdir);
	snprintf(b, sizeof(b), "%s/empty.key", tmpdir);
	write_file(b, "", 0, 0600);
	assert_int_equal(load_tls("srv.crt", "empty.key", "ca.crt"), -1);
	want_err("key %s/empty.key: empty", tmpdir);
	/* Not a file. */
	assert_int_equal(load_tls("srv.crt", "srv.key", ""), -1);
	want_err("client ca %s/: not a regular file", tmpdir);
}

int
run_config_tests(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lexer),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_first_error),
		cmocka_unit_test(test_errors_hide_secrets),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_redact_conninfo),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_secrecy),
		cmocka_unit_test(test_secrecy_owner),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_tls),
	};

	return cmocka_run_group_tests_name("config", tests, setup_dir,
	    teardown_dir);
}
