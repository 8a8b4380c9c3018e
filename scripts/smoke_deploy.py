"""docs/operations.md, "From empty servers to a working system", followed on one machine.

Every path of the runbook (/opt/lanthorn, /srv/lanthorn, /etc/lanthorn) lives under a
temporary directory, each systemd unit's ExecStart runs as a background process with its
EnvironmentFile, and the system user, PostgreSQL role and database are called
`lanthornsmoke` so that a real install on the same machine is never touched. Lanthorn is
installed as the runbook says, into a new virtual environment made with Debian's python3,
from this checkout instead of a `git clone`. Everything is removed at the end, whatever
happens.

Run as root (it adds a system user, runs deploy/portal/postgres-setup.sh, starts nginx):

    ./scripts/smoke-deploy
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"  # the runbook's `apt-get install python3 python3-venv`
USER = "lanthornsmoke"  # the runbook's `lanthorn`, renamed so that a real install is safe
PASSPHRASES = ["smoke officer one lantern", "smoke officer two harbour", "smoke three meadow ok"]
CANARY = "smoke-test report: the night officer on D wing"
REPLY = "We have your report and an officer is looking into it."


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(*command: object, user: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command (as `user`), fail loudly with its output, return its stdout."""
    argv = [str(part) for part in command]
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"FAILED: {shlex.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def env_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads it: VAR=value lines, # comments."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def exec_start(unit: Path, root: Path, env: dict[str, str]) -> list[str]:
    """A unit's ExecStart=, with the runbook's paths under `root` and ${VAR}s expanded."""
    line = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    command = line.removeprefix("ExecStart=")
    command = relocate(command, root)
    command = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], command)
    return shlex.split(command)


def relocate(text: str, root: Path) -> str:
    for top in ("/opt/lanthorn", "/srv/lanthorn", "/etc/lanthorn"):
        text = text.replace(top, f"{root}{top}")
    return text


class Services:
    """Background processes standing in for systemd units; stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], user: str | None, env: dict[str, str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        if user is not None:
            argv = ["runuser", "-u", user, "--", *argv]
        process = subprocess.Popen(  # noqa: S603 - our own commands
            argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
        self.running.append((name, process))

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _, process in reversed(self.running):
            process.terminate()
        for _, process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(url: str, what: str, services: Services, verify: object = True) -> None:
    deadline = time.monotonic() + 60
    while True:
        for name, process in services.running:
            if process.poll() is not None:
                raise SystemExit(f"FAILED: {name} exited:\n{services.log(name)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, verify=verify, timeout=2).status_code == 200:  # type: ignore[arg-type]
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {what} did not answer {url} within 60 s")
        time.sleep(0.2)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    if match is None:
        raise SystemExit("FAILED: no CSRF token on the page")
    return html.unescape(match.group(1))


@contextlib.contextmanager
def system_user() -> Iterator[None]:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(USER)
        raise SystemExit(f"FAILED: a user {USER} already exists: remove it (userdel {USER})")
    run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER)
    try:
        yield
    finally:
        subprocess.run(["userdel", USER], check=False, capture_output=True)  # noqa: S603,S607


@contextlib.contextmanager
def database() -> Iterator[str]:
    script = REPO / "deploy/portal/postgres-setup.sh"
    printed = run("bash", script, "--role", USER, "--database", USER)
    url = next(line.split("=", 1)[1] for line in printed.splitlines() if "DATABASE_URL=" in line)
    try:
        yield url
    finally:
        for sql in (f"DROP DATABASE IF EXISTS {USER} WITH (FORCE)", f"DROP ROLE IF EXISTS {USER}"):
            subprocess.run(  # noqa: S603
                ["runuser", "-u", "postgres", "--", "psql", "-q", "-c", sql],  # noqa: S607
                check=False,
                capture_output=True,
            )


def nginx_config(root: Path, ports: dict[str, int]) -> tuple[Path, Path]:
    """deploy/portal/lanthorn-portal.conf for localhost: a self-signed certificate, the
    ports this run picked, and a main nginx.conf that includes it (Debian's would)."""
    ssl_dir = root / "etc/ssl"
    ssl_dir.mkdir(parents=True)
    key, cert = ssl_dir / "portal.key", ssl_dir / "portal.pem"
    run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", key, "-out", cert,
    )  # fmt: skip
    site = (REPO / "deploy/portal/lanthorn-portal.conf").read_text()
    swaps = {
        "/etc/letsencrypt/live/report.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/report.example.org/privkey.pem": str(key),
        "report.example.org": "localhost",
        "listen 80 default_server;": f"listen 127.0.0.1:{ports['http']} default_server;",
        "listen [::]:80 default_server;": "",
        "listen 443 ssl default_server;": f"listen 127.0.0.1:{ports['https']} ssl default_server;",
        "listen [::]:443 ssl default_server;": "",
        "listen 127.0.0.1:8090": f"listen 127.0.0.1:{ports['onion']}",
        "proxy_pass http://127.0.0.1:8080;": f"proxy_pass http://127.0.0.1:{ports['portal']};",
    }
    for old, new in swaps.items():
        if old not in site:
            raise SystemExit(f"FAILED: {old!r} is no longer in lanthorn-portal.conf")
        site = site.replace(old, new)
    nginx_dir = root / "etc/nginx"
    (nginx_dir / "sites-enabled").mkdir(parents=True)
    (nginx_dir / "sites-enabled/lanthorn-portal.conf").write_text(site)
    temp = "".join(
        f"    {kind}_temp_path {nginx_dir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = nginx_dir / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {nginx_dir / 'nginx.pid'};\nerror_log /dev/null crit;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temp}    include {nginx_dir}/sites-enabled/*.conf;\n}}\n"
    )
    return main, cert


def deploy(root: Path, services: Services) -> None:
    ports = {name: free_port() for name in ("http", "https", "onion", "portal", "console")}
    venv = root / "opt/lanthorn/venv"
    lanthorn = str(venv / "bin/lanthorn")
    quiet_kdf = {"LANTHORN_UNSEAL_PASSPHRASES": ",".join(PASSPHRASES)}
    srv = root / "srv/lanthorn"
    srv.mkdir(parents=True, mode=0o700)
    shutil.chown(srv, USER, USER)

    step("1. install: python3 -m venv /opt/lanthorn/venv; pip install -e (takes a minute)")
    run(SYSTEM_PYTHON, "-m", "venv", venv)
    run(venv / "bin/pip", "install", "--quiet", "--disable-pip-version-check", "-e", REPO)
    run(lanthorn, "--help", user=USER)
    step("2. key ceremony: lanthorn triage init --officers 3 --threshold 2")
    console_data = srv / "console"
    run(lanthorn, "triage", "init", "--data", console_data, "--officers", 3, "--threshold", 2,
        user=USER, env=quiet_kdf)  # fmt: skip
    step("3. the first admin: lanthorn triage officer alice --role admin")
    printed = run(lanthorn, "triage", "officer", "--data", console_data, "alice", "--role",
                  "admin", user=USER, env=quiet_kdf)  # fmt: skip
    if not re.search(r"[0-9a-f]{6}-[0-9a-f]{6}", printed):
        raise SystemExit(f"FAILED: no setup code printed:\n{printed}")
    step("4. copy public/oversight.json and console.pub to the portal host")
    keys = root / "keys"
    keys.mkdir()
    for name in ("oversight.json", "console.pub"):
        shutil.copy(console_data / "public" / name, keys / name)
        (keys / name).chmod(0o644)  # public keys, readable by the portal's user

    step("5. portal host: Lanthorn is installed (the same venv, on one machine)")
    step("6. PostgreSQL: deploy/portal/postgres-setup.sh, its URL into portal.env")
    with database() as database_url:
        etc = root / "etc/lanthorn"
        etc.mkdir(parents=True)
        example = (REPO / "deploy/portal/portal.env.example").read_text()
        (etc / "portal.env").write_text(
            example
            + f"LANTHORN_DATABASE_URL={database_url}\n"
            + f"LANTHORN_HOSTS=localhost:{ports['https']},127.0.0.1:{ports['onion']}\n"
        )
        portal_env = env_file(etc / "portal.env")
        step("7. lanthorn portal init --oversight-key --console-key")
        run(lanthorn, "portal", "init", "--data", srv / "portal",
            "--oversight-key", keys / "oversight.json", "--console-key", keys / "console.pub",
            user=USER, env=portal_env)  # fmt: skip
        step("8. the portal service: deploy/portal/lanthorn-portal.service's ExecStart")
        argv = exec_start(REPO / "deploy/portal/lanthorn-portal.service", root, portal_env)
        argv[argv.index("--port") + 1] = str(ports["portal"])
        services.start("portal", argv, USER, {**portal_env, "PYTHONDONTWRITEBYTECODE": "1"})
        wait_for(f"http://127.0.0.1:{ports['portal']}/api/v1/config", "the portal", services)
        step("9. nginx with deploy/portal/lanthorn-portal.conf (TLS, onion listener)")
        main, cert = nginx_config(root, ports)
        run("nginx", "-t", "-q", "-c", main, "-p", root / "etc/nginx", "-e", "stderr")
        services.start("nginx", ["nginx", "-c", str(main), "-p", str(root / "etc/nginx"),
                                 "-e", "stderr"], None, {})  # fmt: skip
        portal_url = f"https://localhost:{ports['https']}"
        wait_for(f"{portal_url}/api/v1/config", "nginx", services, verify=str(cert))
        config = httpx.get(f"{portal_url}/api/v1/config", verify=str(cert)).json()
        published = json.loads((keys / "oversight.json").read_text())
        if config["oversight_fingerprint"] != published["oversight_fingerprint"]:
            raise SystemExit("FAILED: the portal serves other oversight keys")
        onion = httpx.get(f"http://127.0.0.1:{ports['onion']}/api/v1/config", timeout=10)
        if onion.status_code != 200:
            raise SystemExit(f"FAILED: the onion listener answered {onion.status_code}")

        step("10. the console service: deploy/console/lanthorn-console.service's ExecStart")
        console_example = (REPO / "deploy/console/console.env.example").read_text()
        console_example = console_example.replace(
            "CONSOLE_HOST=10.20.0.5", "CONSOLE_HOST=127.0.0.1"
        )
        console_example = console_example.replace("https://report.example.org", portal_url)
        (etc / "console.env").write_text(console_example + f"SSL_CERT_FILE={cert}\n")
        console_env = env_file(etc / "console.env")
        console_env.update(SYNC_EVERY="2", CONSOLE_PORT=str(ports["console"]))
        argv = exec_start(REPO / "deploy/console/lanthorn-console.service", root, console_env)
        services.start("console", argv, USER, {**console_env, "PYTHONDONTWRITEBYTECODE": "1"})
        console_url = f"http://127.0.0.1:{ports['console']}"
        wait_for(f"{console_url}/unseal", "the console", services)

        step("11. two officers unseal the console in its pages")
        with httpx.Client(base_url=console_url, timeout=60) as officer:
            page = officer.get("/unseal").text
            form = {
                "csrf": csrf(page),
                "passphrase0": PASSPHRASES[0],
                "passphrase1": PASSPHRASES[2],
            }
            unsealed = officer.post("/unseal", data=form)
            if unsealed.status_code not in (200, 303) or "do not unseal" in unsealed.text:
                raise SystemExit(f"FAILED: unsealing answered {unsealed.status_code}")
        step("12. (enrolment in the pages is covered by the test suite)")

        step("13. round trip: a report through nginx, sync, a reply, the reporter reads it")
        with httpx.Client(
            base_url=portal_url, verify=str(cert), timeout=60, follow_redirects=True
        ) as reporter:
            form = reporter.get("/report/staff").text
            sent = reporter.post(
                "/report/staff",
                data={
                    "csrf": csrf(form), "category": "use_of_force", "urgent": "no",
                    "facility": "HMP Smoke", "location": "D wing", "occurred": "last night",
                    "description": CANARY, "subjects": "", "witnesses": "", "identity": "",
                },
                files=[("attachments", ("", b"", "application/octet-stream"))],
            )  # fmt: skip
            receipt = re.search(r'aria-label="Your receipt code: ([0-9 ]+)"', sent.text)
            if sent.status_code != 201 or receipt is None:
                raise SystemExit(f"FAILED: the report answered {sent.status_code}")
            cli = {**console_env, **quiet_kdf, "SSL_CERT_FILE": str(cert)}
            case = wait_for_case(lanthorn, console_data, cli)
            said = run(lanthorn, "triage", "reply", "--data", console_data, case, "--message",
                       REPLY, user=USER, env=cli)  # fmt: skip
            if "queued" in said:
                raise SystemExit(f"FAILED: the reply did not reach the portal: {said}")
            follow = reporter.get("/follow-up").text
            thread = reporter.post(
                "/follow-up", data={"csrf": csrf(follow), "receipt": receipt.group(1)}
            )
            if REPLY not in html.unescape(thread.text):
                raise SystemExit(
                    f"FAILED: the reporter does not see the reply (HTTP {thread.status_code})"
                )
        print(f"    case {case}: reported, synced by the console service, replied, read")
        leaks = [name for name in ("portal", "nginx") if CANARY in services.log(name)]
        if leaks:
            raise SystemExit(f"FAILED: the report's text is in the {', '.join(leaks)} log")


def wait_for_case(lanthorn: str, console_data: Path, env: dict[str, str]) -> str:
    """The console service syncs every 2 s: the case appears in `triage cases --json`."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listed = json.loads(run(lanthorn, "triage", "cases", "--data", console_data, "--json",
                                user=USER, env=env))  # fmt: skip
        if listed:
            return str(listed[0]["case"])
        time.sleep(1)
    raise SystemExit("FAILED: the console service did not sync the report within 90 s")


def main() -> int:
    if os.geteuid() != 0:
        print("scripts/smoke-deploy must run as root: it adds a system user, runs "
              "deploy/portal/postgres-setup.sh and starts nginx.", file=sys.stderr)  # fmt: skip
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lanthorn-smoke-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        services = Services(root)
        with system_user():  # removed last: after every process running as it has stopped
            try:
                deploy(root, services)
            finally:
                services.stop()
    print(f"smoke-deploy: the runbook works ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
