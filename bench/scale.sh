#!/usr/bin/env bash
# The scale step of `make bench`, against a stack deploy/local.sh brought
# up (SK_RUN, ECS): create, inspect, ps, rm and event times with no
# container held and with SCALE more (seeded into the store while the
# backend is stopped, bench/scale.py), the backend's start-up time and
# memory per container, and the state database's size once they are
# removed. The reference dockerd of the test bed is measured at 0 held
# containers only (seeding it is not possible). Prints numbers; asserts
# nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCALE=${SCALE:-100000}
DOCKER=${SK_DOCKER_CLI:-$(command -v /usr/local/bin/docker || command -v docker)}
DB="$SK_RUN/state-$(cat "$SK_RUN/backend.name")/state.db"
PY=/usr/bin/python3
# shellcheck disable=SC1091
. "$SK_RUN/ports.env" # SK_REGISTRY_PORT of the stack

rss() { awk '/VmRSS/ {print $2}' /proc/"$(cat "$SK_RUN/backend.pid")"/status; }
# The last start-up in the backend's log: from the start of loading the
# containers (the "loaded N containers in T ms" line's time less T) to
# "serving the internal API".
startup() {
	$PY - "$SK_RUN/backend.log" <<'PYEOF'
import json, sys
from datetime import datetime
loaded = serving = None
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    msg = r.get("msg", "")
    ts = datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    if msg.startswith("loaded ") and msg.endswith(" ms"):
        loaded, serving = ts - float(msg.split()[-2]) / 1000, None
    elif "serving the internal API on" in msg and loaded is not None:
        serving = ts
print("%.2f s (%s)" % (serving - loaded, "loading and start-up checks")
      if serving else "not found in the log")
PYEOF
}
# restart-backend waits 30 s; loading a large state may take longer.
restart() {
	deploy/local.sh restart-backend >/dev/null 2>&1 || true
	for _ in $(seq 1 6000); do
		curl -sf --unix-socket "$SK_RUN/backend.sock" \
			http://b/internal/v1/_ping >/dev/null 2>&1 && return 0
		sleep 0.01
	done
	echo "the backend did not start; see $SK_RUN/backend.log" >&2
	return 1
}
stop_backend() {
	local pid
	pid=$(cat "$SK_RUN/backend.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

if [ -f "$SK_RUN/bed/bed.env" ]; then
	# shellcheck disable=SC1091
	ENGINE=$(. "$SK_RUN/bed/bed.env" && echo "${SK_ENGINE_HOST#unix://}")
	# Its busybox comes from the test bed's registry on loopback.
	reg="127.0.0.1:$SK_REGISTRY_PORT/library/busybox:latest"
	if [ -S "$ENGINE" ] && ! DOCKER_HOST="unix://$ENGINE" \
		$DOCKER image inspect busybox >/dev/null 2>&1; then
		DOCKER_HOST="unix://$ENGINE" $DOCKER pull -q "$reg" >/dev/null &&
			DOCKER_HOST="unix://$ENGINE" $DOCKER tag "$reg" busybox ||
			echo "dockerd: could not pull $reg; not measured"
	fi
	if [ -S "$ENGINE" ] &&
		DOCKER_HOST="unix://$ENGINE" $DOCKER image inspect busybox >/dev/null 2>&1; then
		echo "dockerd 20.10 (the test bed's), 0 containers held (unversioned paths: its API is 1.41):"
		$PY bench/scale.py measure "$ENGINE" 0 | sed 1d ||
			echo "dockerd: measuring failed (above)"
	fi
fi
# The template of the seeded containers: an exited one, as they are.
$DOCKER run --name sk-bench-tmpl busybox true >/dev/null
restart
echo "sockerless: backend start-up with 1 container: $(startup)"
rss0=$(rss)
$PY bench/scale.py measure "$SK_RUN/docker.sock" 0
stop_backend
$PY bench/scale.py seed "$DB" sk-bench-tmpl "$SCALE"
restart
echo "sockerless: backend start-up with $SCALE more containers: $(startup); $(grep -o 'loaded [0-9]* containers in [0-9]* ms' "$SK_RUN/backend.log" | tail -1)"
rss1=$(rss)
echo "backend RSS: $rss0 kB with 1 container, $rss1 kB with $SCALE more: $(((rss1 - rss0) * 1024 / SCALE)) bytes per container"
$PY bench/scale.py measure "$SK_RUN/docker.sock" "$SCALE"
$PY bench/scale.py list "$SK_RUN/backend.sock"
echo "backend RSS after the requests: $(rss) kB"
$PY bench/scale.py drain "$SK_RUN/docker.sock" "$DB" sk-bench-tmpl
$DOCKER rm -f sk-bench-tmpl >/dev/null
