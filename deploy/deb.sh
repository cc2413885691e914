#!/usr/bin/env bash
# Builds sockerless_<version>_<arch>.deb from a finished build with
# dpkg-deb: binaries, systemd units, example configuration, a system user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
VERSION=${VERSION:-0.1.0}
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

install -d "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/usr/lib/sockerless" "$STAGE/lib/systemd/system" \
	"$STAGE/etc/sockerless" "$STAGE/usr/share/doc/sockerless"
install -m 0755 "$ROOT/$BUILD"/sockerless-frontend "$ROOT/$BUILD"/sockerless-backend-* "$STAGE/usr/bin/"
# The agent goes into workloads (Lambda derived images), not on the PATH.
install -m 0755 "$ROOT/$BUILD"/sockerless-agent "$STAGE/usr/lib/sockerless/"
install -m 0644 "$ROOT"/deploy/systemd/*.service "$STAGE/lib/systemd/system/"
install -m 0644 "$ROOT"/deploy/etc/*.yaml "$STAGE/etc/sockerless/"
install -m 0644 "$ROOT"/README.md "$ROOT"/docs/*.md "$STAGE/usr/share/doc/sockerless/"
(cd "$STAGE" && find etc -type f | sed 's|^|/|') >"$STAGE/DEBIAN/conffiles"
cat >"$STAGE/DEBIAN/control" <<CTL
Package: sockerless
Version: $VERSION
Architecture: $ARCH
Maintainer: Sockerless <dev@sockerless.invalid>
Depends: libevent-2.1-7, libevent-openssl-2.1-7, libcurl4, libcjson1, libyaml-0-2, libssl3, libsqlite3-0
Section: admin
Priority: optional
Description: Docker Engine API on serverless cloud capacity
 sockerless-frontend serves the Docker Engine API; the backends run the
 containers on AWS ECS Fargate, AWS Lambda and other serverless
 platforms.
CTL
cat >"$STAGE/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	getent group sockerless >/dev/null || addgroup --system sockerless
	getent passwd sockerless >/dev/null ||
		adduser --system --ingroup sockerless --home /var/lib/sockerless \
			--no-create-home sockerless
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
SH
chmod 0755 "$STAGE/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$STAGE" "$ROOT/$BUILD/sockerless_${VERSION}_${ARCH}.deb"
