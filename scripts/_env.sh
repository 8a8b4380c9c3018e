# Shared by scripts/test and scripts/demo: make .venv and install Lanthorn into it.
# Sourced, not run. Reinstalls only when pyproject.toml changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pick_python() {
    for candidate in "${LANTHORN_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Lanthorn needs Python 3.11 or newer; none was found on PATH." >&2
    echo "Install it (Debian: apt-get install python3) or set LANTHORN_PYTHON." >&2
    return 1
}

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        local python
        python="$(pick_python)"
        echo "==> creating .venv with $python"
        "$python" -m venv .venv
    fi
    local stamp=".venv/.lanthorn-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> installing Lanthorn and its tools into .venv (first run takes a minute)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
        echo "$want" >"$stamp"
    fi
}
