#!/usr/bin/env bash
# Measures the local default (issue 18; docs/scale.md): what `docker run
# --rm busybox true` costs end to end (wall time and AWS calls) and over the
# cloud's own time per backend, the frontend hop, exec latency and link
# throughput, the daemons' memory, cost with SCALE containers held, and
# `docker logs` of LOGS_MB MB; dockerd's figure beside ours where it has one.
# Prints numbers; asserts nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export SK_RUN=${SK_RUN:-/tmp/sockerless-bench}
export SK_REGISTRY_PORT=${SK_REGISTRY_PORT:-35300}
export SK_SIM_PORT=${SK_SIM_PORT:-35301}
RUNS=${RUNS:-10}
SIM="http://127.0.0.1:$SK_SIM_PORT"
export DOCKER_HOST="unix://$SK_RUN/docker.sock"
DOCKER=${SK_DOCKER_CLI:-$(command -v /usr/local/bin/docker || command -v docker)}

trap 'deploy/local.sh down >/dev/null 2>&1 || true' EXIT
deploy/local.sh up >/dev/null
$DOCKER pull -q busybox >/dev/null
$DOCKER run --rm busybox true # warm: task definition registered once

curl -sf -X POST "$SIM/_sim/calls/reset" >/dev/null
start=$(date +%s.%N)
for _ in $(seq 1 "$RUNS"); do
	$DOCKER run --rm busybox true
done
end=$(date +%s.%N)
calls=$(curl -sf "$SIM/_sim/calls")
echo "docker run --rm busybox true: $(/usr/bin/python3 -c "print('%.2f' % (($end - $start) / $RUNS))") s per run over $RUNS runs"
echo "AWS calls for $RUNS runs: $calls"
/usr/bin/python3 -c "
import json,sys
c=json.loads(sys.argv[1]); n=int(sys.argv[2])
print('AWS calls per run: %.1f (%s)' % (sum(c.values())/n, ', '.join('%s %.1f' % (k, v/n) for k, v in sorted(c.items()))))
" "$calls" "$RUNS"

# Run overhead: docker run --rm busybox true per backend over the cloud's
# own time, beside dockerd's (bench/runfast.py; swaps back to ecs).
/usr/bin/python3 bench/runfast.py "$RUNS" ${RUNFAST_BACKENDS:-lambda gcf azfunc cloudrun aca ecs}

for f in frontend backend; do
	pid=$(cat "$SK_RUN/$f.pid")
	echo "$f RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/"$pid"/status)"
done

# The agent link: exec round trips and streaming throughput into one task.
$DOCKER run -d --name sk-bench-exec busybox sleep 600 >/dev/null
$DOCKER exec sk-bench-exec true # warm: the link is dialled once
start=$(date +%s.%N)
for _ in $(seq 1 "$RUNS"); do
	$DOCKER exec sk-bench-exec true
done
end=$(date +%s.%N)
echo "docker exec (link up): $(/usr/bin/python3 -c "print('%.3f' % (($end - $start) / $RUNS))") s per exec over $RUNS execs"
start=$(date +%s.%N)
$DOCKER exec sk-bench-exec sh -c 'head -c 104857600 /dev/zero' | wc -c >/dev/null
end=$(date +%s.%N)
echo "docker exec output throughput: $(/usr/bin/python3 -c "print('%.0f' % (100 / ($end - $start)))") MB/s (100 MB)"
start=$(date +%s.%N)
head -c 104857600 /dev/zero | $DOCKER exec -i sk-bench-exec sh -c 'cat >/dev/null'
end=$(date +%s.%N)
echo "docker exec -i input throughput: $(/usr/bin/python3 -c "print('%.0f' % (100 / ($end - $start)))") MB/s (100 MB)"
pid=$(cat "$SK_RUN/backend.pid")
echo "backend RSS with a link up: $(awk '/VmRSS/ {print $2, $3}' /proc/"$pid"/status)"
$DOCKER rm -f sk-bench-exec >/dev/null

# The frontend hop at 0 containers: through the frontend, straight to the
# backend, and dockerd (bench/hop.sh).
bench/hop.sh

# Scale: create, inspect, ps, rm and event times with no container held and
# with SCALE more, start-up, memory per container, the state database after
# removing them (bench/scale.sh).
SCALE=${SCALE:-100000}
if [ "$SCALE" -gt 0 ]; then
	SCALE=$SCALE DOCKER_HOST="$DOCKER_HOST" SK_DOCKER_CLI="$DOCKER" \
		bench/scale.sh
fi

# docker logs throughput (issue 18): LOGS_MB MB (default 100) on sockerless
# and on the reference dockerd, the log service read directly, CPU per
# process (bench/logs.sh).
bench/logs.sh
