#!/usr/bin/env bash
# The logs step of `make bench` (one call from bench/run.sh, on its running
# stack): `docker logs` of an exited container that wrote LOGS_MB MB
# (default 100; lines of 1000 bytes) on sockerless (the stack's backend,
# ECS) and on the test bed's reference dockerd, then the same CloudWatch
# Logs stream read straight from the AWS simulator (bench/logs_read.py),
# and the CPU seconds each process spent on the `docker logs`: the
# backend's own throughput is LOGS_MB over its CPU time, which says
# whether the backend or the log service limits. Prints numbers; asserts
# nothing.
#
#   SK_RUN=<stack run dir> [LOGS_MB=100] bench/logs.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SK_RUN=${SK_RUN:-/tmp/sockerless-bench}
LOGS_MB=${LOGS_MB:-100}
DOCKER=${SK_DOCKER_CLI:-$(command -v /usr/local/bin/docker || command -v docker)}
# shellcheck disable=SC1091
. "$SK_RUN/ports.env"
REF=$(. "$SK_RUN/bed/bed.env" && echo "$SK_ENGINE_HOST")
SK="unix://$SK_RUN/docker.sock"
NAME=sk-bench-logs
BYTES=$((LOGS_MB * 1000000))
# 999 characters and a newline a line.
LINE=$(printf '%0999d' 0)
CMD="yes $LINE | head -c $BYTES"
HZ=$(getconf CLK_TCK)

secs() { /usr/bin/python3 -c "print('%.2f' % ($2 - $1))"; }
# CPU seconds (user + system) of a process so far.
cpu() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' /proc/"$1"/stat; }

# docker logs of a fresh container on the endpoint $1; prints
# "<seconds> <bytes>". The container is removed afterwards.
logs_time() {
	local host=$1 start end n
	DOCKER_HOST=$host $DOCKER pull -q busybox >/dev/null
	DOCKER_HOST=$host $DOCKER rm -f "$NAME" >/dev/null 2>&1 || true
	DOCKER_HOST=$host $DOCKER run -d --name "$NAME" busybox sh -c "$CMD" >/dev/null
	DOCKER_HOST=$host $DOCKER wait "$NAME" >/dev/null
	start=$(date +%s.%N)
	n=$(DOCKER_HOST=$host $DOCKER logs "$NAME" | wc -c)
	end=$(date +%s.%N)
	echo "$(secs "$start" "$end") $n"
}

be=$(cat "$SK_RUN/backend.pid")
fe=$(cat "$SK_RUN/frontend.pid")
sim=$(cat "$SK_RUN/awssim.pid")
DOCKER_HOST=$SK $DOCKER pull -q busybox >/dev/null
# The clock and the CPU figures are taken around the docker logs alone,
# after the run and its ingestion.
DOCKER_HOST=$SK $DOCKER rm -f "$NAME" >/dev/null 2>&1 || true
DOCKER_HOST=$SK $DOCKER run -d --name "$NAME" busybox sh -c "$CMD" >/dev/null
DOCKER_HOST=$SK $DOCKER wait "$NAME" >/dev/null
lag=$(/usr/bin/python3 "$ROOT/bench/logs_read.py" "http://127.0.0.1:$SK_SIM_PORT" settle)
read -r be0 fe0 sim0 <<<"$(cpu "$be") $(cpu "$fe") $(cpu "$sim")"
start=$(date +%s.%N)
n=$(DOCKER_HOST=$SK $DOCKER logs "$NAME" | wc -c)
end=$(date +%s.%N)
read -r be1 fe1 sim1 <<<"$(cpu "$be") $(cpu "$fe") $(cpu "$sim")"
t_sk=$(secs "$start" "$end")
sim2=$(cpu "$sim")
read -r pages direct t_direct <<<"$(/usr/bin/python3 "$ROOT/bench/logs_read.py" "http://127.0.0.1:$SK_SIM_PORT" delete)"
sim3=$(cpu "$sim")
DOCKER_HOST=$SK $DOCKER rm -f "$NAME" >/dev/null
read -r t_ref n_ref <<<"$(logs_time "$REF")"
DOCKER_HOST=$REF $DOCKER rm -f "$NAME" >/dev/null

/usr/bin/python3 - "$LOGS_MB" "$BYTES" "$t_sk" "$n" "$t_ref" "$n_ref" \
	"$pages" "$direct" "$t_direct" "$be0" "$be1" "$fe0" "$fe1" "$sim0" "$sim1" "$lag" "$sim2" "$sim3" <<'EOF'
import sys
(mb, want, t_sk, n, t_ref, n_ref, pages, direct, t_dir,
 be0, be1, fe0, fe1, sim0, sim1, lag, sim2, sim3) = sys.argv[1:]
mb, t_sk, t_ref, t_dir = int(mb), float(t_sk), float(t_ref), float(t_dir)
be, fe, sim = float(be1) - float(be0), float(fe1) - float(fe0), float(sim1) - float(sim0)
def rate(t):
    return "%.1f MB/s" % (mb / t) if t > 0 else "-"
def got(count):
    return "" if int(count) == int(want) else " (got %s bytes of %s)" % (count, want)
print("docker logs of %d MB (1000-byte lines, exited container): sockerless (ecs) %.2f s, "
      "%s%s; dockerd %.2f s, %s%s; ratio %.2f" % (mb, t_sk, rate(t_sk), got(n), t_ref,
                                                  rate(t_ref), got(n_ref), t_sk / t_ref))
print("  (the simulator was still copying the output into CloudWatch Logs for %s s after "
      "docker wait; the clock starts after that)" % lag)
print("  the same stream read straight from the AWS simulator (GetLogEvents, %s pages, "
      "%s bytes): %.2f s, %s; simulator CPU %.2f s" % (pages, direct, t_dir, rate(t_dir),
                                                    float(sim3) - float(sim2)))
print("  CPU during sockerless's docker logs: backend %.2f s (%s of the backend's own), "
      "frontend %.2f s, simulator %.2f s; the limit is %s (the process with more CPU; "
      "wall times depend on the machine's load, CPU seconds less)" %
      (be, rate(be) if be > 0 else "-", fe, sim,
       "the log service (simulator)" if sim >= be else "the backend"))
EOF
