"""The vendored libsodium.js is what scripts/vendor-libsodium fetched: checked offline."""

from __future__ import annotations

import hashlib
import re

import pytest

from portal.sri import STATIC

VENDOR = STATIC / "vendor" / "libsodium"
SCRIPTS = ("libsodium-sumo.js", "libsodium-wrappers.js")


def sums() -> dict[str, str]:
    listed = {}
    for line in (VENDOR / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), line
        listed[name] = digest
    return listed


def test_every_vendored_file_is_listed_and_nothing_else_is_there() -> None:
    on_disk = {p.name for p in VENDOR.iterdir()}
    assert on_disk == {*sums(), "SHA256SUMS"}
    assert {"LICENSE", "VERSION", *SCRIPTS} <= set(sums())


@pytest.mark.parametrize("name", sorted(sums()))
def test_vendored_file_matches_sha256sums(name: str) -> None:
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sums()[name]


def test_version_names_the_pinned_packages_and_their_integrity() -> None:
    version = (VENDOR / "VERSION").read_text(encoding="utf-8")
    for package in ("libsodium-sumo", "libsodium-wrappers-sumo"):
        assert re.search(rf"^package: +{package} 0\.8\.4$", version, re.M)
        assert re.search(rf"^tarball: +https://\S+/{package}-0\.8\.4\.tgz$", version, re.M)
    assert len(re.findall(r"^integrity: +sha512-[A-Za-z0-9+/]{86}==$", version, re.M)) == 2


def test_license_is_the_isc_license_of_libsodium_js() -> None:
    text = (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "Frank Denis" in text
    assert "Permission to use, copy, modify, and/or distribute this software" in text


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_classic_scripts_without_eval(name: str) -> None:
    """Loadable by a plain <script> tag under a CSP with no 'unsafe-eval'."""
    source = (VENDOR / name).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|export)\s", source, re.M)
    assert not re.search(r"\beval\(|new Function\(", source)
