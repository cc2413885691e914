#!/usr/bin/env bash
# Test bed: a loopback OCI registry seeded with offline-built test images and a
# private Docker Engine (Debian docker.io 20.10) that uses it.
#
#   tests/bed/bed.sh up DIR     start (idempotent) and seed; writes DIR/bed.env
#   tests/bed/bed.sh down DIR   stop everything, unmount, rm -rf DIR
#   tests/bed/bed.sh status DIR exit 0 if both services answer
#
# Environment:
#   SK_REGISTRY_PORT  registry port on 127.0.0.1 (default: the port DIR was
#                     brought up with, else 35000)
#   SK_BED_KEEP=1     down leaves DIR in place
#
# DIR/bed.env (shell-sourceable): SK_ENGINE_HOST (the reference engine),
# SK_SIM_ENGINE_HOST (the simulator's engine), SK_REF_NETNS, SK_REGISTRY,
# SK_BED_DIR, SK_REGISTRY_PORT, SK_BED_DOCKER_CONFIG.
# Two engines run from the same registry:
#   the simulator's (DIR/engine.sock, DIR/data): in the host's network
#     namespace without a bridge (the simulated Lambda environments run with
#     --network host to reach the simulator's Runtime API on the host's
#     loopback; the simulator gives ECS tasks their own namespaces);
#   the reference (DIR/ref.sock, DIR/rdata, DIR/rexec): dockerd as a user
#     runs it (default bridge, user networks, embedded DNS, iptables,
#     docker-proxy), all inside the network namespace bind-mounted on
#     DIR/refnet (SK_REF_NETNS), so its bridge, NAT rules and published ports
#     touch nothing of the host's. Its 127.0.0.1:REGISTRY_PORT is forwarded
#     to the bed's registry by nsfwd.py; tests reach its published ports
#     from inside DIR/refnet (e2e_lib.ref_connect).
# Images (all under $SK_REGISTRY/):
#   library/busybox:latest        busybox-static rootfs, CMD ["sh"], schema2
#   library/alpine:latest, :3.19  same rootfs + /etc/os-release, CMD ["/bin/sh"]
#   sockerless/testimage:latest   ENV/WORKDIR/USER/EXPOSE/LABEL/STOPSIGNAL/
#                                 HEALTHCHECK/ENTRYPOINT/CMD (images/testimage)
#   sockerless/oci:latest         busybox as an OCI manifest (skopeo)
#   sockerless/multiarch:latest   OCI index, linux/amd64 + linux/arm64/v8
#   sockerless/multiarch:manifestlist  the same as a Docker manifest list
#   sockerless/udp:latest         busybox + /usr/local/bin/udpecho, a static
#                                 UDP echo server and client (images/udpecho.c)
# The simulator's engine keeps the images it built. It has no bridge: run
# containers there with --network host. docker.io names (e.g. "busybox") pull through the registry
# (--registry-mirror). Traffic stays on loopback.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMAGES=$HERE/images
PY=/usr/bin/python3
DOCKER=${SK_DOCKER_CLI:-$(command -v /usr/local/bin/docker || command -v docker)}
BUSYBOX=/bin/busybox
CC=cc
CURL=(curl -s --noproxy '*' --max-time 10)
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

die() { echo "bed: $*" >&2; exit 1; }
log() { echo "bed: $*" >&2; }

usage() { die "usage: $0 up|down|status DIR"; }

[ $# -eq 2 ] || usage
CMD=$1
[ -n "$2" ] || usage
case $2 in /*) DIR=$2 ;; *) DIR=$PWD/$2 ;; esac
DIR=$(realpath -m "$DIR")
case $DIR in
/ | /tmp | /work | /root | /home | /var | /usr | /etc) die "refusing DIR=$DIR" ;;
*[[:space:]]*) die "DIR must not contain white space" ;;
esac
# containerd's socket lives in DIR/exec/containerd/ (sun_path is 108 bytes)
[ ${#DIR} -le 60 ] || die "DIR too long (max 60 characters): $DIR"

MARK=$DIR/.sk-bed
SOCK=$DIR/engine.sock
REFSOCK=$DIR/ref.sock
REFNS=$DIR/refnet

# the port DIR's registry was last started on (its config is the truth)
recorded_port() { sed -n 's/^ *addr: 127\.0\.0\.1://p' "$DIR/registry.yml" 2>/dev/null || true; }

# pid_of NAME: pid from DIR/NAME.pid if that process is alive and its command
# line mentions DIR (a recycled pid is not ours); else nothing.
pid_of() {
	local f=$DIR/$1.pid pid
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR/"; then
		echo "$pid"
	fi
}

# wait_for SECONDS WHAT LOG CMD...: poll CMD until it succeeds.
wait_for() {
	local secs=$1 what=$2 logf=$3 i
	shift 3
	for ((i = 0; i < secs * 10; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "bed: $what did not come up in ${secs}s; tail of $logf:" >&2
	tail -n 30 "$logf" >&2 || true
	exit 1
}

registry_ok() { [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/")" = 200 ]; }
engine_ok() { [ "$("${CURL[@]}" --unix-socket "$SOCK" http://localhost/_ping)" = OK ]; }
ref_engine_ok() { [ "$("${CURL[@]}" --unix-socket "$REFSOCK" http://localhost/_ping)" = OK ]; }

dk() { DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$DIR/cli "$DOCKER" "$@"; }

start_registry() {
	local pid
	pid=$(pid_of registry)
	if [ -n "$pid" ]; then
		wait_for 10 "registry" "$DIR/registry.log" registry_ok
		return
	fi
	if registry_ok; then
		die "127.0.0.1:$PORT already answers /v2/ but is not this bed's registry (set SK_REGISTRY_PORT)"
	fi
	mkdir -p "$DIR/registry"
	cat >"$DIR/registry.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $DIR/registry
		  delete:
		    enabled: true
		  cache:
		    blobdescriptor: inmemory
		  maintenance:
		    uploadpurging:
		      enabled: false
		http:
		  addr: 127.0.0.1:$PORT
	EOF
	setsid docker-registry serve "$DIR/registry.yml" </dev/null >>"$DIR/registry.log" 2>&1 &
	echo $! >"$DIR/registry.pid"
	local i
	for ((i = 0; i < 100; i++)); do
		registry_ok && return 0
		alive "$(cat "$DIR/registry.pid")" || break
		sleep 0.1
	done
	echo "bed: registry did not come up on 127.0.0.1:$PORT; tail of $DIR/registry.log:" >&2
	tail -n 30 "$DIR/registry.log" >&2 || true
	exit 1
}

start_engine() {
	local pid ns
	pid=$(pid_of dockerd)
	if [ -n "$pid" ]; then
		wait_for 30 "dockerd" "$DIR/dockerd.log" engine_ok
		return
	fi
	[ -e /run/containerd/containerd.sock ] &&
		log "warning: a system containerd runs; dockerd will use it (own namespace)"
	# containerd namespaces keep this engine's tasks apart from any other's
	ns=skbed-$(printf %s "$DIR" | sha1sum | cut -c1-12)
	mkdir -p "$DIR/data" "$DIR/exec" "$DIR/cli"
	[ -s "$DIR/daemon.json" ] || echo '{}' >"$DIR/daemon.json"
	# a stale pid file (crash) makes dockerd refuse to start; pid_of said it is not running
	rm -f "$SOCK" "$DIR/dockerd.pid"
	setsid dockerd \
		--config-file "$DIR/daemon.json" \
		--host "unix://$SOCK" \
		--data-root "$DIR/data" \
		--exec-root "$DIR/exec" \
		--pidfile "$DIR/dockerd.pid" \
		--containerd-namespace "$ns" \
		--containerd-plugins-namespace "$ns-plugins" \
		--bridge=none --iptables=false --ip-masq=false --ip-forward=false \
		--userland-proxy=false \
		--storage-driver=overlay2 \
		--insecure-registry 127.0.0.0/8 \
		--registry-mirror "http://127.0.0.1:$PORT" \
		</dev/null >>"$DIR/dockerd.log" 2>&1 &
	local spawned=$! i
	for ((i = 0; i < 300; i++)); do
		engine_ok && return 0
		alive "$spawned" || break
		sleep 0.1
	done
	echo "bed: dockerd did not come up on $SOCK; tail of $DIR/dockerd.log:" >&2
	tail -n 30 "$DIR/dockerd.log" >&2 || true
	exit 1
}

# --- the reference engine, in its own network namespace ---

# ref_netns_ok: DIR/refnet is a mounted network namespace.
ref_netns_ok() { awk -v m="$REFNS" '$2 == m && $3 == "nsfs" { f = 1 } END { exit !f }' /proc/mounts; }

start_ref_netns() {
	if ! ref_netns_ok; then
		touch "$REFNS"
		unshare --net="$REFNS" true || die "cannot create the network namespace $REFNS"
	fi
	nsenter --net="$REFNS" ip link set lo up
}

# ref_fwd_ok: 127.0.0.1:PORT inside the namespace answers as the registry.
ref_fwd_ok() {
	[ "$(nsenter --net="$REFNS" "${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/")" = 200 ]
}

start_ref_fwd() {
	if [ -z "$(pid_of refnsfwd)" ]; then
		rm -f "$DIR/refnsfwd.pid"
		setsid "$PY" "$HERE/nsfwd.py" "$REFNS" "$PORT" "$DIR/refnsfwd.pid" \
			</dev/null >>"$DIR/refnsfwd.log" 2>&1 &
	fi
	wait_for 10 "the registry forwarder of $REFNS" "$DIR/refnsfwd.log" ref_fwd_ok
}

start_ref_engine() {
	local pid ns
	pid=$(pid_of refdockerd)
	if [ -n "$pid" ]; then
		wait_for 30 "reference dockerd" "$DIR/refdockerd.log" ref_engine_ok
		return
	fi
	ns=skref-$(printf %s "$DIR" | sha1sum | cut -c1-12)
	mkdir -p "$DIR/rdata" "$DIR/rexec"
	[ -s "$DIR/refdaemon.json" ] || echo '{}' >"$DIR/refdaemon.json"
	rm -f "$REFSOCK" "$DIR/refdockerd.pid"
	# dockerd's defaults for networking (bridge, iptables, masquerade,
	# docker-proxy): the reference is the engine a user runs.
	setsid nsenter --net="$REFNS" dockerd \
		--config-file "$DIR/refdaemon.json" \
		--host "unix://$REFSOCK" \
		--data-root "$DIR/rdata" \
		--exec-root "$DIR/rexec" \
		--pidfile "$DIR/refdockerd.pid" \
		--containerd-namespace "$ns" \
		--containerd-plugins-namespace "$ns-plugins" \
		--storage-driver=overlay2 \
		--insecure-registry 127.0.0.0/8 \
		--registry-mirror "http://127.0.0.1:$PORT" \
		</dev/null >>"$DIR/refdockerd.log" 2>&1 &
	local spawned=$! i
	for ((i = 0; i < 300; i++)); do
		ref_engine_ok && return 0
		alive "$spawned" || break
		sleep 0.1
	done
	echo "bed: the reference dockerd did not come up on $REFSOCK; tail of $DIR/refdockerd.log:" >&2
	tail -n 30 "$DIR/refdockerd.log" >&2 || true
	exit 1
}

start_ref() {
	start_ref_netns
	start_ref_fwd
	start_ref_engine
}

# stop_engine SOCK PIDNAME: remove its containers, then stop it.
stop_engine() {
	local sock=$1 pid ids
	pid=$(pid_of "$2")
	[ -n "$pid" ] || return 0
	if [ "$("${CURL[@]}" --unix-socket "$sock" http://localhost/_ping)" = OK ]; then
		ids=$(timeout 30 env DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$DIR/cli" "$DOCKER" ps -aq 2>/dev/null || true)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086
			timeout 60 env DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$DIR/cli" "$DOCKER" rm -f -v $ids >/dev/null 2>&1 ||
				log "warning: could not remove every container of $sock"
		fi
	fi
	stop_pid "$pid" 30
}

# manifest_ok REPO REF: the registry resolves it.
manifest_ok() {
	local code
	code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -I \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		"http://127.0.0.1:$PORT/v2/$1/manifests/$2") || return 1
	[ "$code" = 200 ]
}

SEEDED=(library/busybox:latest library/alpine:latest library/alpine:3.19
	sockerless/testimage:latest sockerless/oci:latest
	sockerless/multiarch:latest sockerless/multiarch:manifestlist
	sockerless/udp:latest)

seeded() {
	local r
	for r in "${SEEDED[@]}"; do manifest_ok "${r%:*}" "${r##*:}" || return 1; done
}

# import_rootfs DIR REF CHANGE...: tar a rootfs reproducibly into the engine.
import_rootfs() {
	local root=$1 ref=$2
	shift 2
	local args=() c
	for c in "$@"; do args+=(-c "$c"); done
	tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$root" -cf - . |
		dk import "${args[@]}" - "$ref" >/dev/null
}

seed() {
	local reg=127.0.0.1:$PORT work=$DIR/seed a
	local path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	rm -rf "$work"
	mkdir -p "$work/busybox/bin" "$work/busybox/etc" "$work/busybox/root" \
		"$work/busybox/tmp" "$work/busybox/var/tmp" "$work/busybox/usr/bin" \
		"$work/busybox/usr/sbin" "$work/busybox/sbin"
	chmod 1777 "$work/busybox/tmp" "$work/busybox/var/tmp"
	chmod 700 "$work/busybox/root"
	cp "$BUSYBOX" "$work/busybox/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -s busybox "$work/busybox/bin/$a"
	done
	cp "$IMAGES/rootfs/etc/passwd" "$IMAGES/rootfs/etc/group" "$work/busybox/etc/"
	cp -a "$work/busybox" "$work/alpine"
	cp "$IMAGES/alpine/etc/os-release" "$IMAGES/alpine/etc/alpine-release" "$work/alpine/etc/"
	# busybox's nc has no -u and there is no UDP server applet: a static
	# tool of ours (static glibc's getaddrinfo reads /etc/hosts and asks
	# resolv.conf's servers without NSS modules)
	cp -a "$work/busybox" "$work/udp"
	mkdir -p "$work/udp/usr/local/bin"
	"$CC" -static -O2 -o "$work/udp/usr/local/bin/udpecho" "$IMAGES/udpecho.c" 2>"$work/cc.err" ||
		{ cat "$work/cc.err" >&2; die "cannot build images/udpecho.c"; }

	log "seeding $reg"
	import_rootfs "$work/busybox" "$reg/library/busybox:latest" "$path" 'CMD ["sh"]'
	import_rootfs "$work/alpine" "$reg/library/alpine:latest" "$path" 'CMD ["/bin/sh"]'
	dk tag "$reg/library/alpine:latest" "$reg/library/alpine:3.19"
	dk push -q "$reg/library/busybox:latest" >/dev/null
	dk push -q "$reg/library/alpine:latest" >/dev/null &
	local p1=$!
	dk push -q "$reg/library/alpine:3.19" >/dev/null &
	local p2=$!
	DOCKER_BUILDKIT=0 dk build -q --build-arg "REGISTRY=$reg" \
		-t "$reg/sockerless/testimage:latest" "$IMAGES/testimage" >/dev/null 2>"$work/build.err" ||
		{ cat "$work/build.err" >&2; die "docker build failed"; }
	dk push -q "$reg/sockerless/testimage:latest" >/dev/null &
	local p3=$!
	import_rootfs "$work/udp" "$reg/sockerless/udp:latest" "$path" 'CMD ["sh"]'
	dk push -q "$reg/sockerless/udp:latest" >/dev/null &
	local p4=$!
	skopeo --policy "$IMAGES/policy.json" copy -q --format oci \
		--src-tls-verify=false --dest-tls-verify=false \
		"docker://$reg/library/busybox:latest" "docker://$reg/sockerless/oci:latest"
	"$PY" "$IMAGES/mkindex.py" "$reg"
	for a in "$p1" "$p2" "$p3" "$p4"; do wait "$a" || die "docker push failed"; done
	rm -rf "$work"
	seeded || die "seeding finished but the registry does not resolve every image"
}

write_env() {
	cat >"$DIR/bed.env.tmp" <<-EOF
		SK_ENGINE_HOST=unix://$REFSOCK
		SK_SIM_ENGINE_HOST=unix://$SOCK
		SK_REF_NETNS=$REFNS
		SK_REGISTRY=127.0.0.1:$PORT
		SK_REGISTRY_PORT=$PORT
		SK_BED_DIR=$DIR
		SK_BED_DOCKER_CONFIG=$DIR/cli
	EOF
	mv "$DIR/bed.env.tmp" "$DIR/bed.env"
}

cmd_up() {
	local rec
	rec=$(recorded_port)
	PORT=${SK_REGISTRY_PORT:-${rec:-35000}}
	case $PORT in '' | *[!0-9]*) die "bad SK_REGISTRY_PORT=$PORT" ;; esac
	if [ -n "$rec" ] && [ "$rec" != "$PORT" ] && { [ -n "$(pid_of registry)" ] || [ -n "$(pid_of dockerd)" ]; }; then
		die "the bed in $DIR runs on port $rec; bring it down first"
	fi
	for t in dockerd docker-registry skopeo tar nsenter unshare ip "$DOCKER" "$BUSYBOX" "$PY" "$CC"; do
		command -v "$t" >/dev/null || die "missing $t"
	done
	mkdir -p "$DIR"
	touch "$MARK"
	start_registry
	start_engine
	seeded || seed
	start_ref
	write_env
}

cmd_status() {
	local rec
	rec=$(recorded_port)
	PORT=${SK_REGISTRY_PORT:-${rec:-35000}}
	{ [ -n "$(pid_of registry)" ] && registry_ok; } || die "registry not running"
	{ [ -n "$(pid_of dockerd)" ] && engine_ok; } || die "engine not running"
	{ [ -n "$(pid_of refdockerd)" ] && ref_engine_ok; } || die "reference engine not running"
	echo "bed: up ($DIR, registry 127.0.0.1:$PORT)"
}

# container_pids: processes inside this engine's containers (their cgroup
# path names a container id of DIR/data/containers/; their root is not
# visible from here).
container_pids() {
	local ids='' c p
	for c in "$DIR"/data/containers/* "$DIR"/rdata/containers/*; do
		c=${c##*/}
		[[ $c =~ ^[0-9a-f]{64}$ ]] && ids+=$c$'\n'
	done
	[ -n "$ids" ] || return 0
	ids=${ids%$'\n'}
	for p in /proc/[0-9]*; do
		grep -qF "$ids" "$p/cgroup" 2>/dev/null && echo "${p#/proc/}"
	done
	return 0
}

# bed_pids: processes whose command line names DIR (dockerd, containerd,
# shims, registry).
bed_pids() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] && continue
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$DIR/"; then echo "$p"; fi
	done
	return 0
}

# alive PID: exists and is not a zombie
alive() {
	local st
	st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop_pid PID SECS: SIGTERM, wait, then SIGKILL.
stop_pid() {
	local pid=$1 secs=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	log "pid $pid did not stop in ${secs}s; killing"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
}

cmd_down() {
	[ -e "$DIR" ] || return 0
	[ -e "$MARK" ] || die "$DIR is not a test bed (no .sk-bed); not touching it"
	local pid p i
	stop_engine "$SOCK" dockerd
	stop_engine "$REFSOCK" refdockerd
	pid=$(pid_of refnsfwd)
	[ -z "$pid" ] || stop_pid "$pid" 10
	pid=$(pid_of registry)
	[ -z "$pid" ] || stop_pid "$pid" 10
	# leftovers (after a crash): container processes, then containerd and shims
	for ((i = 0; i < 3; i++)); do
		p=$(container_pids)
		for pid in $p; do kill -KILL "$pid" 2>/dev/null || true; done
		for pid in $p; do stop_pid "$pid" 5; done
		p=$(bed_pids)
		[ -n "$p" ] || break
		for pid in $p; do stop_pid "$pid" 5; done
	done
	# mounts under DIR, deepest first
	local m
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
	done < <(awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
	rm -f "$DIR/engine.sock" "$DIR/registry.pid" "$DIR/dockerd.pid" \
		"$REFSOCK" "$DIR/refdockerd.pid" "$DIR/refnsfwd.pid"
	if [ "${SK_BED_KEEP:-0}" != 1 ]; then
		rm -rf "$DIR" || die "cannot remove $DIR"
	fi
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
