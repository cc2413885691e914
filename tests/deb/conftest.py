"""Fixtures of the package tests; deb_lib.py says what they stand on."""
import os
import shutil

import pytest

import deb_lib


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    """{package: .deb path} of this build."""
    return deb_lib.build_debs(str(tmp_path_factory.mktemp("debs")))


@pytest.fixture(scope="session")
def unpacked(debs, tmp_path_factory):
    """{package: directory} with each package's files and its DEBIAN/."""
    top = tmp_path_factory.mktemp("unpacked")
    out = {}
    for name, path in debs.items():
        d = os.path.join(str(top), name)
        deb_lib.run(["dpkg-deb", "-R", path, d])
        out[name] = d
    return out


@pytest.fixture
def root():
    """A clean Debian 12 root (chroot), thrown away after the test."""
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is not installed (deploy/deps.sh installs it)")
    r = deb_lib.Root()
    yield r
    r.close()
