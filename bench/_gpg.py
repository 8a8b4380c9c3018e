"""The pipeline SecureDrop stores submissions with, measured on this machine for comparison.

SecureDrop's `store.save_file_submission` gzips an upload (`gzip.GzipFile`, level 9) and
encrypts the result with GnuPG to the instance's RSA 4096 key, without compressing it a
second time (the data is already gzipped). Here the same steps run as `PIPELINE` on the
benchmark's plaintext, written to a file and fsynced, as the portal's uploads are: the
speed a server doing it that way would get on this machine. (gpg's default would zlib the
gzip output again, which costs time for nothing and is not what SecureDrop does.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _report import MIB, progress
from _streams import PatternFile

RECIPIENT = "bench@lanthorn.invalid"
PIPELINE = "gzip -9 -c | gpg --compress-algo none -z 0 --encrypt -r KEY -o FILE"


def available() -> str | None:
    """Why the pipeline cannot be measured here, or None when it can."""
    missing = [tool for tool in ("gzip", "gpg") if shutil.which(tool) is None]
    return f"not measured: {', '.join(missing)} not installed" if missing else None


def gzip_gpg_seconds(size: int, where: Path) -> float:
    """Seconds for `PIPELINE` (RSA 4096 recipient) of `size` bytes to disk."""
    gzip_path, gpg_path = shutil.which("gzip"), shutil.which("gpg")
    if gzip_path is None or gpg_path is None:
        raise RuntimeError(available())
    with tempfile.TemporaryDirectory(prefix="gpg-", dir=where) as tmp:
        home = Path(tmp) / "gnupg"
        home.mkdir(mode=0o700)
        gpg = [gpg_path, "--homedir", str(home), "--batch", "--quiet"]
        progress("gzip + GnuPG: generating an RSA 4096 key (as SecureDrop's instance key)")
        subprocess.run(  # noqa: S603 - fixed arguments
            [*gpg, "--passphrase", "", "--pinentry-mode", "loopback"]
            + ["--quick-gen-key", RECIPIENT, "rsa4096", "encr", "never"],
            check=True,
            capture_output=True,
        )
        out = Path(tmp) / "submission.gz.gpg"
        progress(f"SecureDrop's pipeline ({PIPELINE}), {size // MIB} MiB to disk")
        source = PatternFile(size)
        start = time.perf_counter()
        gzip = subprocess.Popen(  # noqa: S603 - fixed arguments
            [gzip_path, "-9", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        encrypt = subprocess.Popen(  # noqa: S603 - fixed arguments
            [*gpg, "--trust-model", "always", "--compress-algo", "none", "-z", "0"]
            + ["--encrypt", "-r", RECIPIENT, "-o", str(out)],
            stdin=gzip.stdout,
        )
        assert gzip.stdin is not None
        assert gzip.stdout is not None
        gzip.stdout.close()  # gpg holds it now
        while block := source.read(MIB):
            gzip.stdin.write(block)
        gzip.stdin.close()
        if gzip.wait() != 0 or encrypt.wait() != 0:
            raise RuntimeError("gzip | gpg failed")
        with out.open("rb") as handle:
            os.fsync(handle.fileno())
        return time.perf_counter() - start
