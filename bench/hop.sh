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
