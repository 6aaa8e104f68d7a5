#!/bin/sh
# Internal retrieval: GET /token/{c} straight against the broker's unix
# socket, rotating over 1,000 captured connections with 64 keep-alive
# connections (bench-loadgen), against pgbench -S with 64 clients on the
# same PostgreSQL cluster, measured in the same run.  Prints both rates and
# their ratio.
#
# Everything runs in a private directory: a PostgreSQL cluster listening
# on a unix socket only (owned by postgres when we are root, since initdb
# refuses root), dromosd with a throw-away root key, audit log and
# configuration.  All of it is stopped and removed on exit, also on failure.
#
# BENCH_SECONDS (default 10) sets the length of each measurement.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build
secs=${BENCH_SECONDS:-10}
conns=1000
clients=64

pgbin=
for v in 17 16 15; do
	if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
		pgbin=/usr/lib/postgresql/$v/bin
		break
	fi
done
if [ -z "$pgbin" ]; then
	echo "retrieval: FAILED: no PostgreSQL server (scripts/install-deps)"
	exit 1
fi

t=$(mktemp -d "${TMPDIR:-/tmp}/dromos-bench.XXXXXX")
pg=$t/pg
dpid=
cleanup() {
	set +e
	if [ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null; then
		i=0
		while kill -0 "$dpid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	if [ -f "$pg/data/postmaster.pid" ]; then
		$aspg "$pgbin/pg_ctl" -D "$pg/data" -m immediate -w stop \
		    >/dev/null 2>&1
	fi
	rm -rf "$t"
}
aspg=
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

failed() {
	echo "retrieval: FAILED: $*"
	for f in "$t/dromosd.log" "$pg/postgres.log"; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
	done
	exit 1
}

# The broker (as _dromos when we are root) and postgres must get through.
chmod 755 "$t"
mkdir -p "$pg/sock" "$t/run"
chmod 755 "$t/run"
if [ "$(id -u)" -eq 0 ]; then
	aspg="runuser -u postgres --"
	pguser=postgres
	chown postgres: "$pg" "$pg/sock"
else
	pguser=$(id -un)
fi
chmod 711 "$pg" "$pg/sock"

# PostgreSQL: unix socket only, fsync off (a throw-away cluster).
$aspg "$pgbin/initdb" -D "$pg/data" -U "$pguser" --auth=trust --no-sync \
    -E UTF8 --locale=C >/dev/null || failed "initdb"
$aspg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -o \
    "-c listen_addresses='' -c unix_socket_directories=$pg/sock -c fsync=off -c full_page_writes=off -c unix_socket_permissions=0777 -c max_connections=200" \
    start >/dev/null || failed "pg_ctl start"
for db in dromos pgbench; do
	"$pgbin/createdb" -h "$pg/sock" -U "$pguser" "$db" || failed "createdb"
done

# dromosd and its broker.
"$b/bin/dromosctl" key init "$t/root.key" >/dev/null
cat >"$t/dromos.conf" <<EOC
listen "$t/run/broker.sock"
admin socket "$t/run/admin.sock"
database "host=$pg/sock dbname=dromos user=$pguser"
root key file "$t/root.key"
audit log "$t/audit.log"
broker path "$b/bin/dromos-broker"
EOC
chmod 600 "$t/dromos.conf"
"$b/bin/dromosd" -d -f "$t/dromos.conf" >"$t/dromosd.log" 2>&1 &
dpid=$!
/usr/bin/python3 "$top/bench/setup_retrieval.py" wait "$t/run/broker.sock" "$dpid" ||
    failed "broker did not start"

ctl() { "$b/bin/dromosctl" -s "$t/run/admin.sock" "$@" 2>>"$t/ctl.log"; }
ctl provider add "$top/etc/providers/openai.json" >/dev/null ||
    failed "provider add"
WRITER=$(ctl client add bench-writer --scope 'connections:write:bench-*') ||
    failed "client add"
READER=$(ctl client add bench-reader --scope 'token:read:bench-*') ||
    failed "client add"
export WRITER READER
/usr/bin/python3 "$top/bench/setup_retrieval.py" capture \
    "$t/run/broker.sock" "$conns" "$t/paths" || failed "capture"

# The broker, then PostgreSQL on its own, each with the machine to itself.
if ! "$b/bench/bench-loadgen" -u "$t/run/broker.sock" -n "$clients" \
    -d "$secs" -H "Authorization: Bearer $READER" -f "$t/paths" \
    >"$t/loadgen.out" 2>"$t/loadgen.err"; then
	cat "$t/loadgen.out" "$t/loadgen.err"
	failed "bench-loadgen reported errors"
fi
broker=$(cat "$t/loadgen.out")
rps=$(sed -n 's/.* rps \([0-9.]*\) .*/\1/p' "$t/loadgen.out")

"$pgbin/pgbench" -h "$pg/sock" -U "$pguser" -i -s 10 -q pgbench \
    >"$t/pgbench-init.log" 2>&1 || failed "pgbench -i"
"$pgbin/pgbench" -h "$pg/sock" -U "$pguser" -S -c "$clients" -j 2 \
    -T "$secs" pgbench >"$t/pgbench.out" 2>&1 || {
	cat "$t/pgbench.out"; failed "pgbench -S"; }
tps=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$t/pgbench.out")
pglat=$(sed -n 's/^latency average = \(.*\)/\1/p' "$t/pgbench.out")
if [ -z "$rps" ] || [ -z "$tps" ]; then
	failed "no rates to compare"
fi

echo "retrieval: broker GET /token/{c}, unix socket, $clients connections" \
    "over $conns captured: $broker"
echo "retrieval: pgbench -S -c $clients -j 2 -T $secs, scale 10:" \
    "tps $tps  latency average $pglat"
echo "retrieval: ratio broker/pgbench-S = $(awk -v a="$rps" -v b="$tps" \
    'BEGIN { printf "%.3f", a / b }') (goal >= 0.5)"
echo "retrieval: audit log lines: $(wc -l <"$t/audit.log")"
