#!/bin/sh
# Internal retrieval: GET /token/{c} straight against the broker's unix
# socket, rotating over 1,000 captured connections with 64 keep-alive
# connections (bench-loadgen), against pgbench -S with 64 clients on the
# same PostgreSQL cluster, measured in the same run.  Prints both rates and
# their ratio.  BENCH_SECONDS (default 10) sets each measurement's length.
set -eu
name=retrieval
. "$(dirname "$0")/lib.sh"

bench_postgres
bench_appliance

# The broker, then PostgreSQL on its own, each with the machine to itself.
if ! "$b/bench/bench-loadgen" -u "$t/run/broker.sock" -n "$clients" \
    -d "$secs" -H "Authorization: Bearer $READER" -f "$t/paths" \
    >"$t/loadgen.out" 2>"$t/loadgen.err"; then
	cat "$t/loadgen.out" "$t/loadgen.err"
	failed "bench-loadgen reported errors"
fi
broker=$(cat "$t/loadgen.out")
rps=$(sed -n 's/.* rps \([0-9.]*\) .*/\1/p' "$t/loadgen.out")
[ -n "$rps" ] || failed "no broker rate"
bench_pgbench

echo "retrieval: broker GET /token/{c}, unix socket, $clients connections" \
    "over $conns captured: $broker"
echo "retrieval: pgbench -S -c $clients -j 2 -T $secs, scale 10:" \
    "tps $tps  latency average $pglat"
echo "retrieval: ratio broker/pgbench-S = $(ratio "$rps" "$tps") (goal >= 0.5)"
echo "retrieval: audit log lines: $(wc -l <"$t/audit.log")"
