#!/usr/bin/env bash
# Installs the Debian packages Sockerless builds and tests with. Quick and
# quiet when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config libevent-dev libcurl4-openssl-dev
	libcjson-dev libyaml-dev libssl-dev libsqlite3-dev libcmocka-dev zlib1g-dev
	musl-tools clang-format valgrind
	# make lint (run by make check)
	clang-tidy-14 cppcheck
	# make fuzz: libFuzzer and the sanitizer runtimes of Debian's clang
	clang-14 libclang-rt-14-dev
	# the local default and the test bed
	docker.io docker-registry busybox-static runc iproute2 iptables util-linux
	curl skopeo openssl
	python3 python3-botocore python3-docker python3-yaml python3-pytest python3-cryptography
	docker-compose
	# the packages' tests (tests/deb, make check-deb)
	debootstrap lintian systemd-container
)

# The differential suite's dockerode programs (tests/node): npm ci from the
# lock file, skipped when node_modules already matches it.
node_deps() {
	local dir sum
	dir=$(cd "$(dirname "$0")/../tests/node" && pwd)
	command -v npm >/dev/null 2>&1 || {
		echo "deps: npm not found; tests/e2e/test_diff_dockerode.py will skip"
		return 0
	}
	sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	[ "$(cat "$dir/node_modules/.sk-lock-sha256" 2>/dev/null)" = "$sum" ] &&
		return 0
	echo "deps: npm ci in tests/node"
	(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) &&
		echo "$sum" >"$dir/node_modules/.sk-lock-sha256"
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	node_deps
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
node_deps
