"""The benchmarks' own rules, as a reader of their output meets them: every script's
`--help` says when a run fails, a ratio above its limit fails the run loudly, and a tail
drawn from too few samples is not called a p99."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with bench/ importable, as the scripts see it."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(BENCH)!r}]\n{code}",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize("script", ["portal.py", "console.py", "crypto.py"])
def test_each_benchmark_says_a_run_with_an_impossible_ratio_fails(
    script: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "RUN FAILED" in " ".join(result.stdout.split())


def test_a_ratio_above_its_raw_limit_fails_the_run_with_a_line_saying_which(
    tmp_path: Path,
) -> None:
    result = run_python(
        "import _verdict\n"
        "_verdict.against_limit(0.9, 1.0, 'encrypt: BlobReader')\n"
        "_verdict.against_limit(1.07, 1.0, 'encrypt: BlobWriter ÷ raw push')\n"
        "sys.exit(_verdict.exit_status(True))",
        tmp_path,
    )
    assert result.returncode == 1
    assert "RUN FAILED: encrypt: BlobWriter ÷ raw push is 1.07 × its limit" in result.stdout
    assert "BlobReader" not in result.stdout


def test_ratios_within_their_limits_leave_the_run_passing(tmp_path: Path) -> None:
    result = run_python(
        "import _verdict\n"
        "_verdict.against_limit(1.0, 1.0, 'at the limit')\n"
        "sys.exit(_verdict.exit_status(True))",
        tmp_path,
    )
    assert result.returncode == 0, result.stdout
    assert "RUN FAILED" not in result.stdout


def test_a_tail_from_fewer_than_a_thousand_samples_says_max_of_n(tmp_path: Path) -> None:
    result = run_python(
        "from _timing import fmt_tail\n"
        "print(fmt_tail([0.001] * 99 + [0.5]))\n"
        "print(fmt_tail([0.001] * 990 + [0.5] * 10))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    few, enough = result.stdout.splitlines()
    assert few == "500 ms (max of 100)"
    assert "max" not in enough


def test_securedrops_pipeline_does_not_compress_twice(tmp_path: Path) -> None:
    result = run_python("import _gpg\nprint(_gpg.PIPELINE)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gzip -9")
    assert "--compress-algo none" in result.stdout
