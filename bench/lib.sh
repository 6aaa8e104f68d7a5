# Shared by the benchmark drivers: a private PostgreSQL cluster, dromosd
# with its broker, and a thousand captured connections, all in one
# temporary directory that cleanup() removes, also on failure.
#
# A driver sets `name`, sources this file, and calls bench_setup; then
# $t (the directory), $pg/sock, $pguser, $pgbin, $READER, $t/paths and
# $t/run/broker.sock are there for it.

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

t=$(mktemp -d "${TMPDIR:-/tmp}/dromos-bench.XXXXXX")
pg=$t/pg
aspg=
pids=

# Stop what we started (newest first), then the database; remove it all.
cleanup() {
	set +e
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || continue
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -f "$pg/data/postmaster.pid" ]; then
		$aspg "$pgbin/pg_ctl" -D "$pg/data" -m immediate -w stop \
		    >/dev/null 2>&1
	fi
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

failed() {
	echo "$name: FAILED: $*"
	for f in "$t"/*.log "$pg/postgres.log"; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
	done
	exit 1
}

# Remember a background process so that cleanup() stops it.
started() {
	pids="$1 $pids"
}

bench_postgres() {
	[ -n "$pgbin" ] || failed "no PostgreSQL server (scripts/install-deps)"
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
	# A throw-away cluster: unix socket only, fsync off.
	$aspg "$pgbin/initdb" -D "$pg/data" -U "$pguser" --auth=trust \
	    --no-sync -E UTF8 --locale=C >/dev/null || failed "initdb"
	$aspg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -o \
	    "-c listen_addresses='' -c unix_socket_directories=$pg/sock -c fsync=off -c full_page_writes=off -c unix_socket_permissions=0777 -c max_connections=200" \
	    start >/dev/null || failed "pg_ctl start"
	for db in dromos pgbench; do
		"$pgbin/createdb" -h "$pg/sock" -U "$pguser" "$db" ||
		    failed "createdb"
	done
}

ctl() {
	"$b/bin/dromosctl" -s "$t/run/admin.sock" "$@" 2>>"$t/ctl.log"
}

# dromosd and its broker, the openai provider, two clients, and $conns
# captured connections whose token paths are in $t/paths.  $BENCH_CONF,
# if set, is added to dromos.conf.
bench_appliance() {
	"$b/bin/dromosctl" key init "$t/root.key" >/dev/null
	cat >"$t/dromos.conf" <<EOC
listen "$t/run/broker.sock"
admin socket "$t/run/admin.sock"
database "host=$pg/sock dbname=dromos user=$pguser"
root key file "$t/root.key"
audit log "$t/audit.log"
broker path "$b/bin/dromos-broker"
${BENCH_CONF:-}
EOC
	chmod 600 "$t/dromos.conf"
	"$b/bin/dromosd" -d -f "$t/dromos.conf" >"$t/dromosd.log" 2>&1 &
	started $!
	/usr/bin/python3 "$top/bench/setup_retrieval.py" wait \
	    "$t/run/broker.sock" "$!" || failed "broker did not start"
	ctl provider add "$top/etc/providers/openai.json" >/dev/null ||
	    failed "provider add"
	WRITER=$(ctl client add bench-writer --scope 'connections:write:bench-*') ||
	    failed "client add"
	READER=$(ctl client add bench-reader --scope 'token:read:bench-*') ||
	    failed "client add"
	export WRITER READER
	/usr/bin/python3 "$top/bench/setup_retrieval.py" capture \
	    "$t/run/broker.sock" "$conns" "$t/paths" || failed "capture"
}

# pgbench -S on the same cluster: sets $tps and $pglat.
bench_pgbench() {
	"$pgbin/pgbench" -h "$pg/sock" -U "$pguser" -i -s 10 -q pgbench \
	    >"$t/pgbench-init.log" 2>&1 || failed "pgbench -i"
	"$pgbin/pgbench" -h "$pg/sock" -U "$pguser" -S -c "$clients" -j 2 \
	    -T "$secs" pgbench >"$t/pgbench.out" 2>&1 || {
		cat "$t/pgbench.out"; failed "pgbench -S"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$t/pgbench.out")
	pglat=$(sed -n 's/^latency average = \(.*\)/\1/p' "$t/pgbench.out")
	[ -n "$tps" ] || failed "no pgbench rate"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}
