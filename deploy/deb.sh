#!/usr/bin/env bash
# Builds the Debian packages (make deb) from a finished build into
# $BUILD/deb, with dpkg-deb and no debian/ source tree:
#
#   sockerless-common          the sockerless user and group (members use the
#                              Docker API socket), /etc/sockerless, the docs
#   sockerless-frontend        the frontend, sockerless.socket and its service
#   sockerless-backend-NAME    one per backend: the binary, its example
#                              configuration and its unit, which has the alias
#                              sockerless-backend.service (the one the
#                              frontend wants; the others conflict with it)
#   sockerless-agent           the static agent (/usr/lib/sockerless) and
#                              sockerless-agent-image, which publishes it as
#                              an image to ECR, Artifact Registry or ACR
#
# Depends of the binaries are computed by dpkg-shlibdeps from the stripped
# ELF files (each run in a throwaway directory holding the minimal
# debian/control it reads), so they follow the libraries this build linked.
# docs/packages.md is the operator's side; tests/deb/ the tests.
#
#   BUILD         the build directory (default build)
#   VERSION       upstream version (default BACKEND_VERSION of backend.h)
#   DEB_REVISION  Debian revision (default 1)
#   DEB_OUT       output directory (default $BUILD/deb)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
VERSION=${VERSION:-$(sed -n 's/^#define BACKEND_VERSION "\(.*\)"$/\1/p' \
	"$ROOT/common/include/sockerless/backend.h")}
[ -n "$VERSION" ] || { echo "deb: no VERSION" >&2; exit 1; }
FULLVER="$VERSION-${DEB_REVISION:-1}"
ARCH=$(dpkg --print-architecture)
OUT=${DEB_OUT:-$BUILD/deb}
BACKENDS=(ecs lambda cloudrun gcf aca azfunc)
# The tool operators publish the agent image with, installed as
# /usr/bin/sockerless-agent-image: the one place that names it.
AGENT_IMAGE_TOOL=deploy/agent-image.py
MAINTAINER="Sockerless maintainers <maintainers@sockerless.invalid>"
# The changelog's date: the commit's, so the same tree gives the same
# packages (dpkg-deb honours SOURCE_DATE_EPOCH for the archive times).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
REVISION=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

for b in sockerless-frontend sockerless-agent "${BACKENDS[@]/#/sockerless-backend-}"; do
	[ -x "$BUILD/$b" ] || { echo "deb: $BUILD/$b is missing: run make first" >&2; exit 1; }
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"

# backend_title NAME: the cloud service in the package's description.
backend_title() {
	case "$1" in
	ecs) echo "AWS ECS Fargate" ;;
	lambda) echo "AWS Lambda" ;;
	cloudrun) echo "Google Cloud Run jobs" ;;
	gcf) echo "Google Cloud Run functions" ;;
	aca) echo "Azure Container Apps jobs" ;;
	azfunc) echo "Azure Functions" ;;
	esac
}

# shlibdeps FILE...: the Depends dpkg-shlibdeps computes for ELF files.
shlibdeps() {
	local d="$WORK/shlibdeps"
	rm -rf "$d"
	mkdir -p "$d/debian"
	printf 'Source: sockerless\n\nPackage: sockerless\nArchitecture: any\n' >"$d/debian/control"
	(cd "$d" && dpkg-shlibdeps -O "$@" 2>"$d/err") | sed -n 's/^shlibs:Depends=//p' ||
		{ cat "$d/err" >&2; return 1; }
}

# stage PKG: a fresh staging root for PKG with its doc directory.
stage() {
	local s="$WORK/$1"
	install -d "$s/DEBIAN" "$s/usr/share/doc/$1"
	copyright >"$s/usr/share/doc/$1/copyright"
	changelog "$1" | gzip -9n >"$s/usr/share/doc/$1/changelog.Debian.gz"
	echo "$s"
}

copyright() {
	cat <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sockerless
Comment: The packages are built from the Sockerless source tree by
 deploy/deb.sh; the binaries are built from the files named below.

Files: *
Copyright: 2026 Sockerless maintainers
License: sockerless-unlicensed

Files: agent/*
Copyright: 2026 Sockerless maintainers
License: sockerless-unlicensed
Comment: /usr/lib/sockerless/sockerless-agent is linked statically with
 musl libc (Debian package musl-dev), Copyright 2005-2020 Rich Felker
 et al., under the MIT license below.

License: sockerless-unlicensed
 The Sockerless source tree names no license yet. No license is granted
 beyond what the copyright holders grant to those they ship these
 packages to.

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining
 a copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including
 without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to
 the following conditions:
 .
 The above copyright notice and this permission notice shall be
 included in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
 EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
}

changelog() {
	cat <<EOF
sockerless ($FULLVER) unstable; urgency=medium

  * $1 built from the Sockerless tree
    at commit $REVISION.

 -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
}

# bin SRC DEST: a stripped copy of an ELF file (the debug info stays in
# the build).
bin() {
	install -D -m 0755 "$1" "$2"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}

# overrides PKG: lintian overrides read from stdin ("# why" above each).
overrides() {
	install -d "$WORK/$1/usr/share/lintian/overrides"
	{
		cat
		echo "# Built by the project, not uploaded to Debian: no ITP bug to close."
		echo "$1: initial-upload-closes-no-bugs *"
	} >"$WORK/$1/usr/share/lintian/overrides/$1"
}

# script PKG NAME: a maintainer script from stdin, @NAME@ replaced by $3.
script() {
	sed "s/@NAME@/${3:-}/g" >"$WORK/$1/DEBIAN/$2"
	chmod 0755 "$WORK/$1/DEBIAN/$2"
}

# finish PKG ARCH DEPENDS RECOMMENDS SUMMARY: control, conffiles, md5sums,
# then the .deb; DESCRIPTION (the long text) comes on stdin.
finish() {
	local pkg=$1 arch=$2 deps=$3 recs=$4 summary=$5 s="$WORK/$1" size
	size=$(du -sk --exclude=DEBIAN "$s" | cut -f1)
	{
		echo "Package: $pkg"
		echo "Source: sockerless"
		echo "Version: $FULLVER"
		echo "Architecture: $arch"
		echo "Maintainer: $MAINTAINER"
		echo "Installed-Size: $size"
		echo "Depends: $deps"
		[ -z "$recs" ] || echo "Recommends: $recs"
		# the single package deploy/deb.sh made before (0.1.0) held
		# every file these packages hold
		echo "Breaks: sockerless (<< 0.1.0-1~)"
		echo "Replaces: sockerless (<< 0.1.0-1~)"
		echo "Section: admin"
		echo "Priority: optional"
		echo "Description: $summary"
		sed 's/^$/./; s/^/ /'
	} >"$s/DEBIAN/control"
	if [ -n "$(find "$s/etc" -type f 2>/dev/null)" ]; then
		(cd "$s" && find etc -type f | sort | sed 's|^|/|') >"$s/DEBIAN/conffiles"
	fi
	(cd "$s" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 -r md5sum) >"$s/DEBIAN/md5sums"
	find "$s" -type d -exec chmod 0755 {} +
	dpkg-deb --root-owner-group -Zxz --build "$s" "$OUT/${pkg}_${FULLVER}_${arch}.deb" >/dev/null
}

# --- sockerless-common ------------------------------------------------
S=$(stage sockerless-common)
install -d "$S/etc/sockerless"
install -D -m 0644 "$ROOT/deploy/tmpfiles/sockerless.conf" "$S/usr/lib/tmpfiles.d/sockerless.conf"
install -m 0644 "$ROOT/README.md" "$S/usr/share/doc/sockerless-common/"
for f in "$ROOT"/docs/*.md; do
	case "${f##*/}" in backend-*) continue ;; esac
	install -m 0644 "$f" "$S/usr/share/doc/sockerless-common/"
done
# The operators' reference and policies, where the tree has them.
for d in config iam policies; do
	if [ -d "$ROOT/docs/$d" ]; then
		cp -r "$ROOT/docs/$d" "$S/usr/share/doc/sockerless-common/$d"
		find "$S/usr/share/doc/sockerless-common/$d" -type f -exec chmod 0644 {} +
	fi
done
overrides sockerless-common </dev/null
script sockerless-common postinst <<'EOF'
#!/bin/sh
# The sockerless system user the daemons run as, and its group: members of
# the group may use /run/sockerless/docker.sock (like the docker group, it
# is equivalent to root on the clouds the backend can use); /run/sockerless.
set -e
if [ "$1" = configure ]; then
	if ! getent group sockerless >/dev/null; then
		addgroup --system --quiet sockerless
	fi
	if ! getent passwd sockerless >/dev/null; then
		adduser --system --quiet --ingroup sockerless --no-create-home \
			--home /var/lib/sockerless --gecos "Sockerless daemons" sockerless
	fi
	# /run/sockerless now, as at every boot (dh_installtmpfiles' snippet)
	if [ -x "$(command -v systemd-tmpfiles)" ]; then
		systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create sockerless.conf || true
	fi
fi
EOF
script sockerless-common postrm <<'EOF'
#!/bin/sh
# Purge: the daemons' state, then the user and the group.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/sockerless
	if getent passwd sockerless >/dev/null; then
		userdel sockerless ||
			echo "sockerless-common: could not remove the user sockerless" >&2
	fi
	if getent group sockerless >/dev/null; then
		groupdel sockerless ||
			echo "sockerless-common: could not remove the group sockerless" >&2
	fi
	rmdir /etc/sockerless 2>/dev/null || true
fi
EOF
finish sockerless-common all "adduser, passwd" "" \
	"Docker Engine API on serverless clouds (user, group, docs)" <<'EOF'
Sockerless serves the Docker Engine API and runs the containers on
serverless cloud capacity (AWS ECS Fargate and Lambda, Google Cloud Run
jobs and functions, Azure Container Apps jobs and Functions).

This package holds what the daemons share: the sockerless system user
they run as, the sockerless group whose members may use the Docker API
socket (like the docker group), /etc/sockerless and the documentation.
EOF

# --- sockerless-frontend ----------------------------------------------
S=$(stage sockerless-frontend)
bin "$BUILD/sockerless-frontend" "$S/usr/bin/sockerless-frontend"
install -D -m 0644 "$ROOT/deploy/etc/frontend.yaml" "$S/etc/sockerless/frontend.yaml"
install -D -m 0644 "$ROOT/deploy/systemd/sockerless.socket" "$S/lib/systemd/system/sockerless.socket"
install -m 0644 "$ROOT/deploy/systemd/sockerless-frontend.service" "$S/lib/systemd/system/"
install -m 0644 "$ROOT/docs/remote.md" "$S/usr/share/doc/sockerless-frontend/"
overrides sockerless-frontend <<'EOF'
# The reference is `sockerless-frontend --help` (every key, generated from
# the configuration table) and /usr/share/doc/sockerless-frontend/remote.md.
sockerless-frontend: no-manual-page [usr/bin/sockerless-frontend]
EOF
# dh_installsystemd's snippets for the socket: enabled on install, started
# when systemd runs; the frontend restarted on upgrade if it runs.
script sockerless-frontend postinst <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] ||
	[ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	deb-systemd-helper unmask sockerless.socket >/dev/null || true
	if deb-systemd-helper --quiet was-enabled sockerless.socket; then
		deb-systemd-helper enable sockerless.socket >/dev/null || true
	else
		deb-systemd-helper update-state sockerless.socket >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke start sockerless.socket >/dev/null || true
		# restart only if it runs (the service itself is not enabled)
		if [ -n "$2" ]; then
			deb-systemd-invoke restart sockerless-frontend.service >/dev/null || true
		fi
	fi
fi
EOF
script sockerless-frontend prerm <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop sockerless-frontend.service sockerless.socket >/dev/null || true
fi
EOF
script sockerless-frontend postrm <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
# (deb-systemd-helper is gone once init-system-helpers is removed)
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper mask sockerless.socket >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper purge sockerless.socket >/dev/null || true
	deb-systemd-helper unmask sockerless.socket >/dev/null || true
fi
EOF
finish sockerless-frontend "$ARCH" \
	"$(shlibdeps "$S/usr/bin/sockerless-frontend"), sockerless-common (= $FULLVER), init-system-helpers (>= 1.54~)" \
	"" "Docker Engine API on serverless clouds (frontend)" <<'EOF'
sockerless-frontend serves the Docker Engine API (v1.44) on
/run/sockerless/docker.sock (socket activation by sockerless.socket) and
on TCP with TLS, and forwards each call to the enabled sockerless backend
(sockerless-backend.service). It holds no cloud credentials.
EOF

# --- sockerless-backend-NAME --------------------------------------------
for name in "${BACKENDS[@]}"; do
	pkg=sockerless-backend-$name
	title=$(backend_title "$name")
	S=$(stage "$pkg")
	bin "$BUILD/$pkg" "$S/usr/bin/$pkg"
	if [ -f "$ROOT/deploy/etc/backend-$name.yaml" ]; then
		install -D -m 0644 "$ROOT/deploy/etc/backend-$name.yaml" "$S/etc/sockerless/backend-$name.yaml"
	fi
	conflicts=""
	for other in "${BACKENDS[@]}"; do
		[ "$other" = "$name" ] || conflicts="$conflicts sockerless-backend-$other.service"
	done
	install -d "$S/lib/systemd/system"
	sed -e "s/@NAME@/$name/g" -e "s/@TITLE@/$title/g" -e "s/@CONFLICTS@/${conflicts# }/" \
		"$ROOT/deploy/systemd/sockerless-backend.service.in" >"$S/lib/systemd/system/$pkg.service"
	chmod 0644 "$S/lib/systemd/system/$pkg.service"
	install -m 0644 "$ROOT/docs/backend-$name.md" "$S/usr/share/doc/$pkg/"
	overrides "$pkg" <<EOF
# The reference is \`$pkg --help\` (every key, generated from the
# configuration table) and /usr/share/doc/$pkg/backend-$name.md.
$pkg: no-manual-page [usr/bin/$pkg]
# Enabling and disabling go through systemctl, not deb-systemd-helper:
# every backend's unit has the alias sockerless-backend.service, which
# deb-systemd-helper would neither refuse to take from another backend on
# install nor leave alone on purge when another backend holds it.
$pkg: maintainer-script-calls-systemctl *
EOF
	# Enabled on first install unless another backend is already
	# sockerless-backend.service; not started, since the example
	# configuration names no real account; restarted on upgrade if running.
	script "$pkg" postinst "$name" <<'EOF'
#!/bin/sh
set -e
UNIT=sockerless-backend-@NAME@.service
ALIAS=/etc/systemd/system/sockerless-backend.service
MARK=/var/lib/sockerless/backend-@NAME@.was-enabled
enable_backend() {
	command -v systemctl >/dev/null 2>&1 || return 0
	# a dangling alias: left by a backend removed without systemd
	if [ -L "$ALIAS" ] && [ ! -e "$ALIAS" ]; then
		rm -f "$ALIAS"
	fi
	if [ -L "$ALIAS" ] || [ -e "$ALIAS" ]; then
		cur=$(basename "$(readlink -f "$ALIAS")")
		if [ "$cur" != "$UNIT" ]; then
			echo "sockerless-backend-@NAME@: not enabled: $cur is the enabled backend (sockerless-backend.service). To swap: systemctl disable --now $cur && systemctl enable --now $UNIT" >&2
		fi
		return 0
	fi
	systemctl enable "$UNIT" >/dev/null 2>&1 ||
		{ echo "sockerless-backend-@NAME@: systemctl enable $UNIT failed" >&2; return 0; }
	echo "sockerless-backend-@NAME@: enabled as sockerless-backend.service. Edit /etc/sockerless/backend-@NAME@.yaml, then: systemctl start $UNIT" >&2
}
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] ||
	[ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	if [ "$1" = configure ] && { [ -z "$2" ] || [ -e "$MARK" ]; }; then
		rm -f "$MARK"
		enable_backend
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			systemctl try-restart "$UNIT" >/dev/null || true
		fi
	fi
fi
EOF
	# Remove: stopped, and disabled (so the alias is free for another
	# backend); re-enabled when installed again.
	script "$pkg" prerm "$name" <<'EOF'
#!/bin/sh
set -e
UNIT=sockerless-backend-@NAME@.service
MARK=/var/lib/sockerless/backend-@NAME@.was-enabled
if [ "$1" = remove ]; then
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke stop "$UNIT" >/dev/null || true
	fi
	if command -v systemctl >/dev/null 2>&1 &&
		systemctl --quiet is-enabled "$UNIT" 2>/dev/null; then
		mkdir -p /var/lib/sockerless
		: >"$MARK"
		systemctl disable "$UNIT" >/dev/null 2>&1 ||
			echo "sockerless-backend-@NAME@: systemctl disable $UNIT failed" >&2
	fi
fi
EOF
	script "$pkg" postrm "$name" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/sockerless/@NAME@
	rm -f /var/lib/sockerless/backend-@NAME@.was-enabled
fi
EOF
	# The backends that build derived images copy the agent from
	# /usr/lib/sockerless; ecs and aca take the agent as an image.
	case "$name" in
	ecs | aca) agentdep="" agentrec="sockerless-agent (= $FULLVER)" ;;
	*) agentdep=", sockerless-agent (= $FULLVER)" agentrec="" ;;
	esac
	finish "$pkg" "$ARCH" \
		"$(shlibdeps "$S/usr/bin/$pkg"), sockerless-common (= $FULLVER), init-system-helpers (>= 1.54~)$agentdep" \
		"sockerless-frontend (= $FULLVER)${agentrec:+, $agentrec}" \
		"Docker Engine API on serverless clouds ($title backend)" <<EOF
This backend runs the containers of the Docker Engine API
that sockerless-frontend serves on $title.
Its unit, $pkg.service, is
sockerless-backend.service when enabled; one backend is
enabled at a time (disable one, enable another).
EOF
done

# --- sockerless-agent ---------------------------------------------------
S=$(stage sockerless-agent)
bin "$BUILD/sockerless-agent" "$S/usr/lib/sockerless/sockerless-agent"
install -D -m 0755 "$ROOT/$AGENT_IMAGE_TOOL" "$S/usr/bin/sockerless-agent-image"
install -m 0644 "$ROOT/docs/agent.md" "$S/usr/share/doc/sockerless-agent/"
overrides sockerless-agent <<'EOF'
# The agent runs inside the workloads' containers, whose images may have
# no C library or another one: it is linked statically with musl on
# purpose (docs/agent.md).
sockerless-agent: statically-linked-binary [usr/lib/sockerless/sockerless-agent]
# Documented by `sockerless-agent-image --help` and docs/agent.md.
sockerless-agent: no-manual-page [usr/bin/sockerless-agent-image]
EOF
finish sockerless-agent "$ARCH" "python3" "" \
	"Docker Engine API on serverless clouds (agent)" <<'EOF'
The sockerless agent runs inside each container on the cloud and serves
exec, attach, cp, top, stats and signals for the backend. This package
holds the static agent (/usr/lib/sockerless/sockerless-agent), which the
Lambda, Cloud Run, Cloud Run functions and Azure Functions backends put
into derived images, and sockerless-agent-image, which publishes it as an
image to a registry (ECR, Artifact Registry, ACR) for the ECS and
Container Apps backends.
EOF

ls -s --block-size=K "$OUT"
