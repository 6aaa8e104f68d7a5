#!/bin/sh
# The public read path: GET /v1/token/{c} through dromos-gateway with wrk
# (64 connections rotating over 1,000 captured connections), against nginx
# serving a static JSON file of the same size and against pgbench -S on the
# same database, all in one run; and the same fetch straight to the broker,
# with one load generator (bench-loadgen) for both, for the gateway's share.
#
# The gateway listens with `tls off' on loopback so that it and nginx are
# compared on the same plain HTTP; its idle resident memory is read before
# any load.  The CPU time the gateway and the broker spend per request
# during the bench-loadgen runs is printed too: unlike rates, it does not
# depend much on what else the machine is doing.  Goals: >= 0.40 of nginx
# and of pgbench -S, p99 <= 5 ms, no errors, gateway <= 20% over the direct
# broker call, idle RSS <= 16 MiB.
# A second gateway reaches the broker over TCP and mutual TLS (the broker's
# "listen tls"): its rate is printed beside the unix socket's, no goal.
# Two bounds put the goals in scale, without goals of their own: the
# broker called directly against nginx, both over a unix socket with the
# same driver (no front door to the broker can beat that ratio), and nginx
# itself as a bare reverse proxy to the broker, the gateway's peer: its
# cost over the direct call and its CPU time per request.
set -eu
name=gateway
. "$(dirname "$0")/lib.sh"

command -v wrk >/dev/null || failed "no wrk (scripts/install-deps)"
command -v nginx >/dev/null || command -v /usr/sbin/nginx >/dev/null ||
    failed "no nginx (scripts/install-deps)"

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A CA, the broker's certificate and the gateway's client certificate,
# for a second gateway that reaches the broker over TCP and mutual TLS.
pki() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$t/ca.key" -out "$t/ca.crt" -days 1 -subj /CN=bench-ca \
	    -addext basicConstraints=critical,CA:TRUE 2>/dev/null
	for who in broker gw; do
		if [ $who = broker ]; then
			ext="extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1"
		else
			ext="extendedKeyUsage=clientAuth"
		fi
		printf '%s\n' "$ext" >"$t/$who.ext"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$t/$who.key" -out "$t/$who.csr" -subj "/CN=$who" \
		    2>/dev/null
		openssl x509 -req -in "$t/$who.csr" -CA "$t/ca.crt" \
		    -CAkey "$t/ca.key" -CAcreateserial -days 1 \
		    -extfile "$t/$who.ext" -out "$t/$who.crt" 2>/dev/null
		chmod 600 "$t/$who.key"
	done
	[ -s "$t/gw.crt" ] || failed "openssl could not make the certificates"
}

bench_postgres
pki
bt=$(free_port)
BENCH_CONF="listen tls \"127.0.0.1:$bt\" certificate \"$t/broker.crt\" key \"$t/broker.key\" client ca \"$t/ca.crt\""
bench_appliance

# The gateway, no limits in the way of one client's load.
gw=$(free_port)
cat >"$t/gateway.conf" <<EOC
listen "127.0.0.1:$gw"
tls off
broker socket "$t/run/broker.sock"
rate limit client off
rate limit connection off
EOC
"$b/bin/dromos-gateway" -d -f "$t/gateway.conf" >"$t/gateway.log" 2>&1 &
gpid=$!
started $gpid
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$gw/v1/health"; do
	i=$((i + 1))
	[ $i -lt 100 ] && kill -0 $gpid 2>/dev/null || failed "gateway did not start"
	sleep 0.1
done
sleep 1
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$gpid/status")

# The second gateway: the same, but the broker is reached over TLS.
gt=$(free_port)
cat >"$t/gateway-tls.conf" <<EOC
listen "127.0.0.1:$gt"
tls off
broker tls "127.0.0.1:$bt" ca "$t/ca.crt" certificate "$t/gw.crt" key "$t/gw.key"
rate limit client off
rate limit connection off
EOC
"$b/bin/dromos-gateway" -d -f "$t/gateway-tls.conf" >"$t/gateway-tls.log" 2>&1 &
started $!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$gt/v1/health"; do
	i=$((i + 1))
	[ $i -lt 100 ] || failed "the TLS gateway did not start"
	sleep 0.1
done

# nginx with a file the size of one payload.
curl -sf -H "Authorization: Bearer $READER" \
    "http://127.0.0.1:$gw/v1$(head -n 1 "$t/paths")" >"$t/token.json" ||
    failed "no payload through the gateway"
ng=$(free_port)
np=$(free_port)
mkdir -p "$t/nginx"
cat >"$t/nginx.conf" <<EOC
worker_processes 2;
daemon off;
pid $t/nginx/nginx.pid;
error_log $t/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $t/nginx;
	proxy_temp_path $t/nginx;
	fastcgi_temp_path $t/nginx;
	uwsgi_temp_path $t/nginx;
	scgi_temp_path $t/nginx;
	keepalive_requests 1000000;
	upstream broker {
		server unix:$t/run/broker.sock;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$ng;
		listen unix:$t/nginx.sock;
		location = /token.json {
			root $t;
			default_type application/json;
		}
	}
	# nginx as a bare reverse proxy to the broker (no checks, no limits,
	# no access log): the least a second process in the path can cost.
	server {
		listen 127.0.0.1:$np;
		location /v1/ {
			proxy_pass http://broker/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
EOC
[ "$(id -u)" -eq 0 ] && sed -i '1i user root;' "$t/nginx.conf"
$(command -v nginx || echo /usr/sbin/nginx) -c "$t/nginx.conf" \
    >"$t/nginx.log" 2>&1 &
started $!
npid=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$ng/token.json"; do
	i=$((i + 1))
	[ $i -lt 50 ] || failed "nginx did not start"
	sleep 0.1
done

cat >"$t/rotate.lua" <<'EOL'
local paths, i = {}, 0
for line in io.lines(os.getenv("BENCH_PATHS")) do
	paths[#paths + 1] = "/v1" .. line
end
local auth = "Bearer " .. os.getenv("READER")
request = function()
	i = i % #paths + 1
	return wrk.format("GET", paths[i], { ["Authorization"] = auth })
end
EOL

# One wrk run: sets $w_rps, $w_p50, $w_p99 (ms) and $w_bad.  Each target
# is warmed up first for a few seconds, not measured: the steady state is
# what counts, not the first requests' connections (the TLS gateway's 64
# handshakes with the broker) and caches.
wrk_run() {
	BENCH_PATHS=$t/paths wrk -t 2 -c "$clients" -d 3s "$@" >/dev/null 2>&1 ||
	    failed "wrk warm-up"
	BENCH_PATHS=$t/paths wrk -t 2 -c "$clients" -d "${secs}s" --latency \
	    "$@" >"$t/wrk.out" 2>&1 || { cat "$t/wrk.out"; failed "wrk"; }
	w_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$t/wrk.out")
	w_p50=$(awk '$1 == "50%" { print $2 }' "$t/wrk.out")
	w_p99=$(awk '$1 == "99%" { print $2 }' "$t/wrk.out")
	w_bad=$(awk '/Non-2xx or 3xx responses:/ { print $5 }
	    /Socket errors:/ { print "socket errors" }' "$t/wrk.out")
	[ -n "$w_rps" ] || { cat "$t/wrk.out"; failed "no wrk rate"; }
}

# CPU time of a process so far, in clock ticks.
cputicks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# nginx's workers together (the master does not serve).
nginx_ticks() {
	for p in $(pgrep -P "$npid"); do cputicks "$p"; done |
	    awk '{ s += $1 } END { print s + 0 }'
}
hz=$(getconf CLK_TCK)
bpid=$(ss -xlpn 2>/dev/null |
    sed -n "s|.*$t/run/broker.sock .*pid=\([0-9]*\),.*|\1|p" | head -n 1)
[ -n "$bpid" ] || failed "no broker process found"

# Microseconds of CPU per request: ticks before, ticks after, requests.
us_per() {
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$hz" \
	    'BEGIN { printf "%.1f", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }'
}

# bench-loadgen against a target: sets $l_rps, $l_n, $l_p50 and $l_line.
# $n_clients connections ($clients unless set).
loadgen_run() {
	"$b/bench/bench-loadgen" "$@" -n "${n_clients:-$clients}" -d "$secs" \
	    -H "Authorization: Bearer $READER" >"$t/loadgen.out" \
	    2>"$t/loadgen.err" || { cat "$t/loadgen.out" "$t/loadgen.err";
	    failed "bench-loadgen reported errors"; }
	l_line=$(cat "$t/loadgen.out")
	l_rps=$(sed -n 's/.* rps \([0-9.]*\) .*/\1/p' "$t/loadgen.out")
	l_n=$(sed -n 's/^requests \([0-9]*\) .*/\1/p' "$t/loadgen.out")
	l_p50=$(sed -n 's/.* p50 \([0-9.]*\)ms .*/\1/p' "$t/loadgen.out")
}

wrk_run -s "$t/rotate.lua" "http://127.0.0.1:$gw"
g_rps=$w_rps; g_p50=$w_p50; g_p99=$w_p99; g_bad=${w_bad:-none}
wrk_run "http://127.0.0.1:$ng/token.json"
n_rps=$w_rps; n_p50=$w_p50; n_p99=$w_p99
wrk_run -s "$t/rotate.lua" "http://127.0.0.1:$gt"
t_rps=$w_rps; t_p50=$w_p50; t_p99=$w_p99; t_bad=${w_bad:-none}

sed 's|^|/v1|' "$t/paths" >"$t/v1paths"
g0=$(cputicks $gpid); b0=$(cputicks $bpid)
loadgen_run -c "127.0.0.1:$gw" -f "$t/v1paths"
g1=$(cputicks $gpid); b1=$(cputicks $bpid)
lg_rps=$l_rps; lg_line=$l_line
g_cpu=$(us_per "$g0" "$g1" "$l_n"); gb_cpu=$(us_per "$b0" "$b1" "$l_n")
b0=$(cputicks $bpid)
loadgen_run -u "$t/run/broker.sock" -f "$t/paths"
b1=$(cputicks $bpid)
lb_rps=$l_rps; lb_line=$l_line
db_cpu=$(us_per "$b0" "$b1" "$l_n")
# nginx with the same driver over the same kind of socket as the direct
# call: the broker's own rate against it bounds what any front door to
# the broker can reach against nginx on this machine.
loadgen_run -u "$t/nginx.sock" -p /token.json
ln_rps=$l_rps; ln_line=$l_line
n0=$(nginx_ticks); b0=$(cputicks $bpid)
loadgen_run -c "127.0.0.1:$np" -f "$t/v1paths"
n1=$(nginx_ticks); b1=$(cputicks $bpid)
lp_rps=$l_rps; lp_line=$l_line
np_cpu=$(us_per "$n0" "$n1" "$l_n"); nb_cpu=$(us_per "$b0" "$b1" "$l_n")
# One request at a time: what the gateway adds to a request's latency
# when nothing queues (the saturated runs above measure capacity).
n_clients=1
loadgen_run -c "127.0.0.1:$gw" -f "$t/v1paths"
l1g_p50=$l_p50; l1g_line=$l_line
loadgen_run -u "$t/run/broker.sock" -f "$t/paths"
l1b_p50=$l_p50; l1b_line=$l_line
n_clients=
bench_pgbench

echo "gateway: wrk GET /v1/token/{c} via gateway ($clients conns, $conns" \
    "connections): rps $g_rps  p50 $g_p50  p99 $g_p99  errors $g_bad"
echo "gateway: wrk GET /v1/token/{c} via gateway, broker over TCP+TLS 1.3:" \
    "rps $t_rps  p50 $t_p50  p99 $t_p99  errors $t_bad" \
    "(ratio to the unix socket $(ratio "$t_rps" "$g_rps"))"
echo "gateway: wrk nginx static JSON ($(wc -c <"$t/token.json") bytes):" \
    "rps $n_rps  p50 $n_p50  p99 $n_p99"
echo "gateway: pgbench -S -c $clients -j 2: tps $tps  latency average $pglat"
echo "gateway: bench-loadgen via gateway: $lg_line"
echo "gateway: bench-loadgen direct to broker: $lb_line"
echo "gateway: ratio gateway/nginx = $(ratio "$g_rps" "$n_rps") (goal >= 0.40)"
echo "gateway: ratio gateway/pgbench-S = $(ratio "$g_rps" "$tps") (goal >= 0.40)"
echo "gateway: gateway's cost over the direct broker call =" \
    "$(awk -v a="$lg_rps" -v b="$lb_rps" 'BEGIN { printf "%.1f%%", (b / a - 1) * 100 }')" \
    "(goal <= 20%)"
echo "gateway: bench-loadgen nginx, unix socket: $ln_line"
echo "gateway: ratio direct broker/nginx, both on a unix socket = " \
    "$(ratio "$lb_rps" "$ln_rps") (no goal: the most a gateway in front" \
    "of the broker could reach against nginx here)"
echo "gateway: bench-loadgen via nginx as a reverse proxy: $lp_line"
echo "gateway: nginx as a reverse proxy costs" \
    "$(awk -v a="$lp_rps" -v b="$lb_rps" 'BEGIN { printf "%.1f%%", (b / a - 1) * 100 }')" \
    "over the direct broker call; CPU per request: nginx $np_cpu us," \
    "broker $nb_cpu us behind it (no goal: the gateway's peer)"
echo "gateway: bench-loadgen one connection via gateway: $l1g_line"
echo "gateway: bench-loadgen one connection direct to broker: $l1b_line"
echo "gateway: one request at a time, the gateway adds" \
    "$(awk -v g="$l1g_p50" -v b="$l1b_p50" 'BEGIN { printf "%.0f us to a %.0f us call (%.1f%%)", (g - b) * 1000, b * 1000, (b > 0 ? (g / b - 1) * 100 : 0) }')" \
    "(p50; no goal)"
echo "gateway: CPU per request: gateway $g_cpu us; broker $gb_cpu us" \
    "behind the gateway, $db_cpu us called directly"
echo "gateway: idle RSS $rss KiB (goal <= 16384)"
