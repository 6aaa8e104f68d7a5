#!/bin/sh
# OPEN throughput through dromosd (audit chain on) against in-process EVP.
# dromosd runs with a throw-away root key, audit log and configuration, and
# execs bench-khopen as its broker.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
chmod 755 "$t"
"$b/bin/dromosctl" key init "$t/root.key"
cat >"$t/dromos.conf" <<EOC
listen "$t/broker.sock"
database "dbname=unused"
root key file "$t/root.key"
audit log "$t/audit.log"
broker path "$b/bench/bench-khopen"
EOC
chmod 600 "$t/dromos.conf"
# dromosd gives its broker an empty environment; the results come back on
# the standard output they share.
"$b/bin/dromosd" -d -f "$t/dromos.conf" >"$t/dromosd.log" 2>&1 || true
if ! grep -q '^khopen: ratio' "$t/dromosd.log"; then
	echo "khopen: FAILED"; cat "$t/dromosd.log"; exit 1
fi
grep '^khopen:' "$t/dromosd.log"
echo "khopen: audit log lines: $(wc -l <"$t/audit.log")"
