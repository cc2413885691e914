#!/usr/bin/env bash
# Measures the local default: what `docker run --rm busybox true` costs end
# to end (wall time and AWS calls), `docker ps` latency with many
# containers, and the daemons' memory. Prints numbers; asserts nothing.
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

# Scale: SCALE more containers in the state (seeded into the store while the
# backend is stopped, see bench/scale.py), then what a restart, create,
# inspect, ps and rm cost with them, and the backend's memory per container.
SCALE=${SCALE:-100000}
rss() { awk '/VmRSS/ {print $2}' /proc/"$(cat "$SK_RUN/backend.pid")"/status; }
# restart-backend waits 30 s; loading a large state may take longer.
restart() {
	deploy/local.sh restart-backend >/dev/null 2>&1 || true
	for _ in $(seq 1 6000); do
		curl -sf --unix-socket "$SK_RUN/backend.sock" \
			http://b/internal/v1/_ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the backend did not start; see $SK_RUN/backend.log" >&2
	return 1
}
if [ "$SCALE" -gt 0 ]; then
	$DOCKER create --name sk-bench-tmpl busybox true >/dev/null
	restart
	rss0=$(rss)
	pid=$(cat "$SK_RUN/backend.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	/usr/bin/python3 bench/scale.py seed "$SK_RUN/state-ecs/state.db" \
		sk-bench-tmpl "$SCALE"
	start=$(date +%s.%N)
	restart
	end=$(date +%s.%N)
	rss1=$(rss)
	echo "backend start with $SCALE more containers: $(/usr/bin/python3 -c "print('%.1f' % ($end - $start))") s"
	echo "backend RSS: $rss0 kB fresh, $rss1 kB with $SCALE more containers: $(( (rss1 - rss0) * 1024 / SCALE )) bytes per container"
	/usr/bin/python3 bench/scale.py measure "$SK_RUN/docker.sock" "$SCALE"
	echo "backend RSS after the requests: $(rss) kB"
fi
