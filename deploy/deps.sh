#!/usr/bin/env bash
# Installs the Debian packages Sockerless builds and tests with. Quick and
# quiet when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config libevent-dev libcurl4-openssl-dev
	libcjson-dev libyaml-dev libssl-dev libsqlite3-dev libcmocka-dev
	musl-tools clang-format valgrind
	# make fuzz: libFuzzer and the sanitizer runtimes of Debian's clang
	clang-14 libclang-rt-14-dev
	# the local default and the test bed
	docker.io docker-registry busybox-static runc iproute2 curl skopeo
	python3 python3-botocore python3-docker python3-yaml python3-pytest
	docker-compose
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
