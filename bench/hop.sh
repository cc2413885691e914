#!/usr/bin/env bash
# The frontend hop: p50 with one kept-alive connection and req/s with 32,
# for /_ping and GET /containers/json (at whatever the stack holds; bench/
# run.sh calls it at 0 containers), through the frontend, straight to the
# backend's internal socket (the same route under /internal/v1), and on
# the test bed's dockerd when there is one. hop = frontend p50 - backend
# p50. Needs a stack up (deploy/local.sh) in SK_RUN. Prints; asserts
# nothing. It also prints this machine's floor for any hop (httpload -F):
# one round trip to a second process over a unix socket, the two
# wake-ups a process in the path adds however little it does.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SK_RUN:-/tmp/sockerless-local}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SECS=${HOP_SECS:-2}
LOAD="$BUILD/bench/httpload"
if [ ! -x "$LOAD" ]; then
	mkdir -p "$BUILD/bench"
	cc -O2 -std=gnu11 -Wall -Wextra -o "$LOAD" "$ROOT/bench/httpload.c" -lpthread
fi
ENGINE=
if [ -f "$RUN/bed/bed.env" ]; then
	ENGINE=$(sed -n 's|^SK_ENGINE_HOST=unix://||p' "$RUN/bed/bed.env")
	[ -S "$ENGINE" ] || ENGINE=
fi

# field NAME LINE: the value of NAME=... in httpload's line.
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
load() { "$LOAD" -d "$SECS" "$@" || true; }

floor=$(load -F)
echo "hop floor on this machine (httpload -F: a message to a process waiting in epoll and its answer over a unix socket, p50): $(field p50_us "$floor")us"
echo "frontend hop (httpload: p50 with 1 connection, req/s with 32, ${SECS}s each; hop = frontend p50 - backend p50)"
printf '%-18s %10s %10s %8s %10s   %9s %9s %9s\n' route frontend backend hop dockerd \
	fe_req/s be_req/s dk_req/s
for route in /_ping /containers/json; do
	fe1=$(load -c 1 "$RUN/docker.sock" "/v1.44$route")
	be1=$(load -c 1 -H 'X-Sockerless-Api-Version: 1.44' "$RUN/backend.sock" "/internal/v1$route")
	fe32=$(load -c 32 "$RUN/docker.sock" "/v1.44$route")
	be32=$(load -c 32 -H 'X-Sockerless-Api-Version: 1.44' "$RUN/backend.sock" "/internal/v1$route")
	dk1="p50_us=- rps=-"
	dk32="p50_us=- rps=-"
	if [ -n "$ENGINE" ]; then
		dk1=$(load -c 1 "$ENGINE" "/v1.41$route")
		dk32=$(load -c 32 "$ENGINE" "/v1.41$route")
	fi
	fp=$(field p50_us "$fe1")
	bp=$(field p50_us "$be1")
	hop=$(/usr/bin/python3 -c "import sys
try: print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))
except ValueError: print('-')" "$fp" "$bp")
	printf '%-18s %8sus %8sus %6sus %8sus   %9s %9s %9s\n' "$route" "$fp" "$bp" "$hop" \
		"$(field p50_us "$dk1")" "$(field rps "$fe32")" "$(field rps "$be32")" \
		"$(field rps "$dk32")"
	for l in "$fe1" "$be1" "$fe32" "$be32"; do
		case "$l" in *"errors=0"*) ;; *) echo "  (errors: $l)" ;; esac
	done
done

# Busy polling (docs/scale.md, "Busy polling"): a second frontend with
# busy_poll=50 on the same backend, beside the stack's (busy_poll as it
# was started: 0 unless SOCKERLESS_FRONTEND_BUSY_POLL said otherwise), with
# back-to-back requests and with requests 100 us apart, one connection;
# CPU per request from /proc/PID/stat.
BUSY_SOCK=$(mktemp -u /tmp/sk-hop-busy.XXXXXX)
"$BUILD/sockerless-frontend" --busy_poll=50 --hosts "unix://$BUSY_SOCK" \
	--backend "$RUN/backend.sock" >/dev/null 2>&1 &
busy_pid=$!
trap 'kill "$busy_pid" 2>/dev/null; rm -f "$BUSY_SOCK"' EXIT
for _ in $(seq 1 50); do [ -S "$BUSY_SOCK" ] && break; sleep 0.1; done
HZ=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# busy PID SOCK GAP: "p50 cpu/request" of one paced run.
busy() {
	local a b out n
	a=$(cpu "$1")
	out=$(load -c 1 -p "$3" "$2" /v1.44/containers/json)
	b=$(cpu "$1")
	n=$(field n "$out")
	/usr/bin/python3 -c "import sys
try: print('%sus %.0fus' % (sys.argv[1], (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[5]) / int(sys.argv[4])))
except (ValueError, ZeroDivisionError): print('- -')" "$(field p50_us "$out")" "$a" "$b" "$n" "$HZ"
}
echo "busy polling: GET /containers/json, 1 connection, p50 and frontend CPU per request"
printf '%-28s %22s %22s\n' "" "stack's frontend" "busy_poll=50"
for gap in 0 100; do
	fe=$(busy "$(cat "$RUN/frontend.pid")" "$RUN/docker.sock" "$gap")
	bz=$(busy "$busy_pid" "$BUSY_SOCK" "$gap")
	if [ "$gap" = 0 ]; then label="back to back"; else label="${gap}us apart"; fi
	printf '%-28s %22s %22s\n' "$label" "$fe" "$bz"
done
