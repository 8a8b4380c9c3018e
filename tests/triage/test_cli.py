"""`lanthorn triage` as officers use it: the ceremony, unsealing, and the audit check."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

import crypto

from .conftest import LANTHORN, run_lanthorn

GOOD = ["amber lantern over the wing", "seven quiet keys on a ring", "the long shift ends at dawn"]


def run(
    *args: object, passphrases: list[str] | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANTHORN_DATA",)}
    env.update(extra_env or {})
    env.pop("LANTHORN_UNSEAL_PASSPHRASES", None)
    env["LANTHORN_VAULT_KDF"] = "1,8"  # cheap Argon2id: the ceremony records it in vault.json
    if passphrases is not None:
        env["LANTHORN_UNSEAL_PASSPHRASES"] = ",".join(passphrases)
    return run_lanthorn(args, env)


@pytest.fixture(scope="module")
def console_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "console"
    result = run(
        "triage", "init", "--data", data, "--officers", "3", "--threshold", "2", passphrases=GOOD
    )
    assert result.returncode == 0, result.stderr
    assert "lanthorn portal init --data DIR --oversight-key" in result.stdout
    assert "public/oversight.json" in result.stdout
    published = json.loads((data / "public" / "oversight.json").read_text())
    # The fingerprint people compare: printed at the ceremony, of the keys it published.
    box = crypto.b64u_decode(published["oversight_public_key"], length=32)
    sign = crypto.b64u_decode(published["oversight_sign_key"], length=32)
    assert published["oversight_fingerprint"] == crypto.fingerprint(box, sign)
    assert f"fingerprint: {crypto.fingerprint(box, sign)}" in result.stdout
    return data


def test_the_ceremony_writes_public_keys_and_nothing_readable(console_dir: Path) -> None:
    for name in ("oversight.pub", "console.pub"):
        assert len((console_dir / "public" / name).read_text().strip()) == 43
    published = json.loads((console_dir / "public" / "oversight.json").read_text())
    assert set(published) == {
        "oversight_public_key",
        "oversight_sign_key",
        "oversight_fingerprint",
        "oversight_rollovers",
    }
    for path in (console_dir / "vault.json", console_dir / "keys.sealed"):
        assert path.stat().st_mode & 0o077 == 0
        for phrase in GOOD:
            assert phrase.encode() not in path.read_bytes()


def test_a_second_ceremony_is_refused(console_dir: Path) -> None:
    result = run("triage", "init", "--data", console_dir, passphrases=GOOD)
    assert result.returncode == 1
    assert "will not overwrite" in result.stderr


@pytest.mark.parametrize(
    ("phrases", "message"),
    [
        (["short one", *GOOD[1:]], "passphrase 1 is too weak: it has 9 characters"),
        ([GOOD[0], GOOD[0], GOOD[2]], "another officer already chose it"),
        (["aaaaaaaaaaaaaaaaaaaa", *GOOD[1:]], "repeats too few different characters"),
        (GOOD[:2], "holds 2 passphrases for 3 officers"),
    ],
)
def test_weak_ceremonies_are_refused_with_a_reason(
    tmp_path: Path, phrases: list[str], message: str
) -> None:
    result = run("triage", "init", "--data", tmp_path / "c", passphrases=phrases)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "c" / "vault.json").exists()


@pytest.mark.parametrize(
    ("phrases", "message"),
    [
        (GOOD[:1], "unsealing needs exactly 2 passphrases, got 1"),  # k - 1 opens nothing
        ([GOOD[0], "the wrong words entirely here"], "do not unseal the console"),
        ([GOOD[0], GOOD[0]], "do not unseal the console"),
    ],
)
def test_wrong_or_too_few_passphrases_unseal_nothing(
    console_dir: Path, phrases: list[str], message: str
) -> None:
    result = run("triage", "cases", "--data", console_dir, passphrases=phrases)
    assert result.returncode == 1
    assert message in result.stderr


def test_any_two_officers_unseal_in_any_order(console_dir: Path) -> None:
    for phrases in ([GOOD[2], GOOD[0]], [GOOD[1], GOOD[2]], GOOD):
        result = run("triage", "cases", "--data", console_dir, "--json", passphrases=phrases)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []


def test_audit_verify_names_the_first_altered_entry(console_dir: Path) -> None:
    ok = run("triage", "audit", "verify", "--data", console_dir, passphrases=GOOD)
    assert ok.returncode == 0
    assert "Audit log intact" in ok.stdout
    with sqlite3.connect(console_dir / "console.db") as db:
        db.execute("UPDATE audit SET entry = replace(entry, 'list cases', 'nothing') WHERE seq = 2")
    broken = run("triage", "audit", "verify", "--data", console_dir, passphrases=GOOD)
    assert broken.returncode == 1
    assert "AUDIT LOG BROKEN at entry 2" in broken.stderr


def test_unknown_cases_and_states_are_explained(console_dir: Path) -> None:
    result = run("triage", "show", "--data", console_dir, "NOSUCHCASE", passphrases=GOOD)
    assert result.returncode == 1
    assert "there is no case 'NOSUCHCASE'" in result.stderr


def rekey_two_of_two(data: Path, new: list[str]) -> subprocess.CompletedProcess[str]:
    """A fresh 2-of-3 console, rekeyed by two of its officers to two new passphrases."""
    assert run("triage", "init", "--data", data, passphrases=GOOD).returncode == 0
    return run(
        "triage",
        "rekey",
        "--data",
        data,
        "--officers",
        "2",
        "--threshold",
        "2",
        passphrases=GOOD[:2],
        extra_env={"LANTHORN_NEW_PASSPHRASES": ",".join(new)},
    )


def test_rekey_replaces_the_officers_and_the_old_passphrases_stop_working(
    tmp_path: Path,
) -> None:
    data = tmp_path / "console"
    new = ["a brand new officer joins", "second new passphrase here"]
    result = rekey_two_of_two(data, new)
    assert result.returncode == 0, result.stderr
    assert "the old passphrases no longer open it" in result.stdout
    old = run("triage", "cases", "--data", data, passphrases=GOOD[:2])
    assert old.returncode == 1
    assert "do not unseal" in old.stderr
    assert run("triage", "cases", "--data", data, passphrases=new).returncode == 0
    audit = run("triage", "audit", "verify", "--data", data, passphrases=new)
    assert audit.returncode == 0  # the chain survives: its key comes from the vault key


def test_rekey_refuses_a_weak_new_set_and_keeps_the_old_one(tmp_path: Path) -> None:
    data = tmp_path / "console"
    result = rekey_two_of_two(data, ["weak", "weaker"])
    assert result.returncode == 1
    assert "too weak" in result.stderr
    assert run("triage", "cases", "--data", data, passphrases=GOOD[1:]).returncode == 0


@pytest.mark.parametrize("unsealed", [True, False])
def test_serve_starts_sealed_or_unsealed(console_dir: Path, unsealed: bool) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    if unsealed:
        env["LANTHORN_UNSEAL_PASSPHRASES"] = ",".join(GOOD[:2])
    server = subprocess.Popen(  # noqa: S603
        [LANTHORN, "triage", "serve", "--data", str(console_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                assert server.poll() is None
                time.sleep(0.2)
        assert response.headers["location"] == ("/login" if unsealed else "/unseal")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert ("(unsealed;" if unsealed else "(sealed: unseal it in the browser;") in output
