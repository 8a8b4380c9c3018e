"""The shipped deployment files in deploy/, checked by the programs that will read them.

nginx, tor and systemd parse the files as shipped (with paths that exist only on a real
server swapped for throwaway ones). The properties that keep reporters anonymous are
asserted on the files themselves, and the nginx site serves real requests: to a stand-in
upstream that records what it receives, and to the portal itself running with writable
executable memory refused, as `MemoryDenyWriteExecute=` refuses it under systemd.

A missing tool skips its tests, unless LANTHORN_REQUIRE_DEPLOY_TOOLS is set (as
scripts/test sets it, after installing the Debian packages): then it fails them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import crypto
from portal.security import SECURITY_HEADERS
from portal.settings import Limits
from portal.uploads import FORM_OVERHEAD

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "portal" / "lanthorn-portal.conf"
TORRC = DEPLOY / "portal" / "torrc"
PORTAL_UNIT = DEPLOY / "portal" / "lanthorn-portal.service"
CONSOLE_UNITS = [
    DEPLOY / "console" / "lanthorn-console.service",
    DEPLOY / "console" / "lanthorn-console-sync.service",
    DEPLOY / "console" / "lanthorn-console-sync.timer",
]
LANTHORN = Path(sys.executable).with_name("lanthorn")
INSTALLED_LANTHORN = "/opt/lanthorn/venv/bin/lanthorn"

#: The largest body the portal accepts: an API upload, or a form with its files and fields.
PORTAL_BODY_LIMIT = max(Limits().blob_bytes, Limits().submission_bytes + FORM_OVERHEAD)
#: Request headers that would carry a reporter's address to the portal.
ADDRESS_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded")
#: nginx variables holding the client's address: none may appear in the site file.
ADDRESS_VARIABLES = re.compile(
    r"\$(remote_addr|binary_remote_addr|proxy_add_x_forwarded_for|realip_remote_addr"
    r"|http_x_forwarded_for|http_x_real_ip|http_forwarded)\b"
)


def tool(name: str) -> str:
    """The path of a program the deployment uses, or skip (fail when tools are required)."""
    path = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if os.access(f"{d}/{name}", os.X_OK)),
        None,
    )
    if path is None:
        message = (
            f"{name} is not installed: scripts/test installs it (Debian package), and sets "
            "LANTHORN_REQUIRE_DEPLOY_TOOLS=1 so that CI fails instead of skipping"
        )
        if os.environ.get("LANTHORN_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# -- nginx: the site file, parsed --------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        """Directives called `name` in this block, at any depth."""
        found = []
        for child in self.block or []:
            if child.name == name:
                found.append(child)
            found.extend(child.all(name))
        return found

    def one(self, name: str) -> list[str]:
        """The arguments of the one directive `name` directly in this block."""
        matches = [child for child in self.block or [] if child.name == name]
        assert len(matches) == 1, f"expected one {name} in {self.name} {self.args}: {matches}"
        return matches[0].args


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};"]+)')


def parse_nginx(text: str) -> Directive:
    """nginx's configuration grammar, enough for a site file: directives and blocks."""
    text = re.sub(r"#[^\n]*", "", text)  # the site file has no '#' inside a quoted value
    stack: list[Directive] = [Directive("", [], [])]
    words: list[str] = []
    for quoted, punct, bare in _TOKEN.findall(text):
        if punct == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif punct == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))  # type: ignore[union-attr]
            words = []
        elif punct == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(quoted if bare == "" else bare)
    assert len(stack) == 1, "unbalanced braces in the site file"
    assert not words, f"unterminated directive {words}"
    return stack[0]


@pytest.fixture(scope="module")
def site() -> Directive:
    return parse_nginx(SITE.read_text(encoding="utf-8"))


def servers(site: Directive) -> dict[str, Directive]:
    """The site's servers by role: 'redirect' (80), 'tls' (443), 'onion' (loopback)."""
    roles: dict[str, Directive] = {}
    for server in site.all("server"):
        listens = [d.args for d in server.all("listen")]
        if any("ssl" in args for args in listens):
            roles["tls"] = server
        elif any(args[0].startswith("127.0.0.1:") for args in listens):
            roles["onion"] = server
        else:
            roles["redirect"] = server
    assert sorted(roles) == ["onion", "redirect", "tls"], roles
    return roles


def test_no_server_keeps_an_access_log_or_client_addresses(site: Directive) -> None:
    for server in site.all("server"):
        assert server.one("access_log") == ["off"]
        # nginx appends "client: ADDRESS" to error lines at every level: no error log.
        assert server.one("error_log")[0] == "/dev/null"
        for listen in server.all("listen"):
            assert "default_server" in listen.args, "another site could log these requests"
    assert all(d.args == ["off"] for d in site.all("access_log"))
    assert not site.all("log_format")
    assert not ADDRESS_VARIABLES.search(SITE.read_text(encoding="utf-8"))
    assert not site.all("real_ip_header")
    assert not site.all("set_real_ip_from")


@pytest.mark.parametrize("role", ["tls", "onion"])
def test_the_proxy_streams_uploads_and_passes_no_address(site: Directive, role: str) -> None:
    server = servers(site)[role]
    assert server.one("client_max_body_size") == [str(PORTAL_BODY_LIMIT)]
    assert server.one("proxy_request_buffering") == ["off"]
    assert server.one("proxy_buffering") == ["off"]
    assert server.one("proxy_http_version") == ["1.1"]  # else chunked bodies are buffered
    assert server.one("gzip") == ["off"]
    assert not server.all("rewrite")
    assert not server.all("return")
    (location,) = server.all("location")
    assert location.args == ["/"]
    # No URI part: nginx then passes the request target exactly as the client sent it.
    assert location.one("proxy_pass") == ["http://127.0.0.1:8080"]
    headers = {d.args[0].lower(): d.args[1:] for d in location.all("proxy_set_header")}
    for name in ADDRESS_HEADERS:
        assert headers.get(name) == [""], f"{name} must be blanked, never set"


def test_the_portals_security_headers_are_left_alone(site: Directive) -> None:
    ours = {name.lower() for name in SECURITY_HEADERS}
    for directive in (
        "add_header",
        "proxy_hide_header",
        "proxy_ignore_headers",
        "more_set_headers",
    ):
        for found in site.all(directive):
            assert found.args[0].lower() not in ours, f"{directive} {found.args[0]}"
    roles = servers(site)
    added = {d.args[0]: d.args[1:] for d in roles["tls"].all("add_header")}
    assert "Strict-Transport-Security" not in SECURITY_HEADERS  # so the proxy adds it
    assert added["Strict-Transport-Security"][1:] == ["always"]
    assert roles["tls"].one("proxy_cookie_flags") == ["~", "secure"]
    # Plain HTTP inside a Tor circuit: HSTS and Secure cookies would break the onion site.
    assert not roles["onion"].all("add_header")
    assert not roles["onion"].all("proxy_cookie_flags")


def test_the_pieces_point_at_each_other(site: Directive) -> None:
    """torrc → nginx's onion listener → the port the portal's unit serves on."""
    onion_listen = servers(site)["onion"].one("listen")[0]
    torrc = TORRC.read_text(encoding="utf-8")
    assert f"\nHiddenServicePort 80 {onion_listen}\n" in torrc
    unit = read_unit(PORTAL_UNIT)
    exec_start = unit["Service"]["ExecStart"][0].split()
    assert exec_start[exec_start.index("--port") + 1] == "8080"
    assert exec_start[exec_start.index("--host") + 1] == "127.0.0.1"
    assert unit["Service"]["ReadWritePaths"] == [exec_start[exec_start.index("--data") + 1]]


def nginx_files(
    tmp_path: Path, rewrite: dict[str, str] | None = None, main: str = ""
) -> tuple[Path, Path]:
    """A throwaway certificate, the site file pointed at it, and a main file including it."""
    openssl = tool("openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", "/CN=report.example.org"),
            *("-addext", "subjectAltName=DNS:report.example.org,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    text = SITE.read_text(encoding="utf-8")
    swaps = {
        "/etc/letsencrypt/live/report.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/report.example.org/privkey.pem": str(key),
        **(rewrite or {}),
    }
    for old, new in swaps.items():
        assert old in text, f"{old!r} is no longer in {SITE.name}: update this test"
        text = text.replace(old, new)
    site = tmp_path / "lanthorn-portal.conf"
    site.write_text(text, encoding="utf-8")
    wrapper = tmp_path / "nginx.conf"
    temp = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    wrapper.write_text(
        f"{main}pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'main-error.log'} info;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n{temp}    include {site};\n}}\n",
        encoding="utf-8",
    )
    return wrapper, cert


def test_nginx_accepts_the_site_file(tmp_path: Path) -> None:
    nginx = tool("nginx")
    wrapper, _ = nginx_files(tmp_path)
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(wrapper), "-p", str(tmp_path), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


# -- nginx, serving: a stand-in upstream records what reaches it -----------------------------


@dataclass
class Seen:
    target: str
    headers: dict[str, str]
    body_bytes: int = 0


@dataclass
class Upstream:
    """A one-request-per-connection HTTP/1.1 server that records requests and answers
    with the headers the portal sends."""

    sock: socket.socket
    seen: list[Seen] = field(default_factory=list)
    body_arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
            seen = Seen(request_line.split(" ")[1], headers, len(body))
            self.seen.append(seen)
            length = int(headers.get("content-length", "0"))
            while seen.body_bytes < length:
                if seen.body_bytes:
                    self.body_arrived.set()
                chunk = conn.recv(65536)
                if not chunk:
                    return
                seen.body_bytes += len(chunk)
            reply = [
                "HTTP/1.1 200 OK",
                *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
                "Set-Cookie: lanthorn_csrf=0123; HttpOnly; Path=/; SameSite=strict",
                "Content-Length: 2",
                "Connection: close",
            ]
            conn.sendall(("\r\n".join(reply) + "\r\n\r\nok").encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proxy:
    tls: str
    onion: str
    redirect: str
    cert: Path
    error_log: Path

    def client(self, base: str) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=base, verify=context, timeout=30)


@contextlib.contextmanager
def running_nginx(tmp_path: Path, upstream_port: int, onion: int | None = None) -> Iterator[Proxy]:
    """nginx serving the site file on loopback ports, in front of `upstream_port`.

    The error log goes to a file at `info` here (it is /dev/null as shipped), so that a
    test can see whether nginx ever wrote a request or response body to disk.
    """
    nginx = tool("nginx")
    tmp_path.mkdir(exist_ok=True)
    tls, onion, redirect = free_port(), onion or free_port(), free_port()
    error_log = tmp_path / "site-error.log"
    wrapper, cert = nginx_files(
        tmp_path,
        {
            "listen 80 default_server;": f"listen 127.0.0.1:{redirect} default_server;",
            "listen [::]:80 default_server;": "",
            "listen 443 ssl default_server;": f"listen 127.0.0.1:{tls} ssl default_server;",
            "listen [::]:443 ssl default_server;": "",
            "listen 127.0.0.1:8090 default_server;": f"listen 127.0.0.1:{onion} default_server;",
            "proxy_pass http://127.0.0.1:8080;": f"proxy_pass http://127.0.0.1:{upstream_port};",
            "error_log  /dev/null crit;": f"error_log {error_log} info;",
        },
        main="daemon off;\nmaster_process off;\n",
    )
    process = subprocess.Popen(
        [nginx, "-c", str(wrapper), "-p", str(tmp_path), "-e", str(tmp_path / "stderr.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        for port in (tls, onion, redirect):
            while True:
                assert process.poll() is None, (tmp_path / "stderr.log").read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "nginx did not start listening"
                    time.sleep(0.05)
        yield Proxy(
            tls=f"https://127.0.0.1:{tls}",
            onion=f"http://127.0.0.1:{onion}",
            redirect=f"http://127.0.0.1:{redirect}",
            cert=cert,
            error_log=error_log,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    spooled = [line for line in error_log.read_text().splitlines() if "temporary file" in line]
    assert not spooled, f"nginx wrote a body to disk: {spooled}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream(socket.create_server(("127.0.0.1", 0)))
    threading.Thread(target=server.serve, daemon=True).start()
    yield server
    server.sock.shutdown(socket.SHUT_RDWR)
    server.sock.close()


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes exactly as written (no client library normalises the target)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_nginx_passes_the_target_as_sent_and_no_address(tmp_path: Path, upstream: Upstream) -> None:
    target = "/api//v1/%7Ethread?b=2&a=%2Fx%20y&a=1"
    spoofed = "203.0.113.9"
    with running_nginx(tmp_path, upstream.port) as proxy:
        answer = raw_request(
            int(proxy.onion.rsplit(":", 1)[1]),
            (
                f"GET {target} HTTP/1.1\r\nHost: example.onion\r\n"
                f"X-Forwarded-For: {spoofed}\r\nX-Real-IP: {spoofed}\r\n"
                f"Forwarded: for={spoofed}\r\nConnection: close\r\n\r\n"
            ).encode(),
        )
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        with proxy.client(proxy.tls) as client:
            response = client.get("/", headers={"X-Forwarded-For": spoofed})
            redirect = httpx.get(proxy.redirect + "/report/staff?x=1")
    first, second = upstream.seen
    assert first.target == target
    for seen in (first, second):
        assert not set(ADDRESS_HEADERS) & set(seen.headers), seen.headers
        assert spoofed not in repr(seen.headers)
        assert "127.0.0.1" not in repr({k: v for k, v in seen.headers.items() if k != "host"})
    # The portal's headers arrive once each, unchanged; HSTS and Secure are added on TLS.
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert response.headers["strict-transport-security"] == "max-age=63072000"
    assert response.headers["set-cookie"].endswith("; Secure")
    assert b"Strict-Transport-Security" not in answer
    assert b"Secure" not in answer
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://report.example.org/report/staff?x=1"


@pytest.mark.parametrize("listener", ["tls", "onion"])
def test_nginx_streams_uploads_instead_of_spooling_them(
    tmp_path: Path, upstream: Upstream, listener: str
) -> None:
    """The upstream has the start of the body before the client has sent the rest."""
    first, rest = b"a" * 262144, b"b" * 262144
    reached_upstream_early: list[bool] = []

    def body() -> Iterator[bytes]:
        yield first
        reached_upstream_early.append(upstream.body_arrived.wait(10))
        yield rest

    with running_nginx(tmp_path, upstream.port) as proxy:
        with proxy.client(getattr(proxy, listener)) as client:
            response = client.post(
                "/api/v1/blobs",
                content=body(),
                headers={"Content-Length": str(len(first) + len(rest))},
            )
    assert response.status_code == 200
    assert reached_upstream_early == [True], "nginx held the body back: it buffers"
    assert upstream.seen[-1].body_bytes == len(first) + len(rest)


def test_nginx_refuses_a_body_over_the_portals_limit_unread(
    tmp_path: Path, upstream: Upstream
) -> None:
    with running_nginx(tmp_path, upstream.port) as proxy:
        port = int(proxy.onion.rsplit(":", 1)[1])
        head = "POST /api/v1/blobs HTTP/1.1\r\nHost: example.onion\r\nContent-Length: {}\r\n"
        over = raw_request(port, (head.format(PORTAL_BODY_LIMIT + 1) + "\r\n").encode())
        assert over.startswith(b"HTTP/1.1 413"), over[:100]
        assert not upstream.seen
        # Exactly the limit goes through to the portal, which then reads it as it streams.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((head.format(PORTAL_BODY_LIMIT) + "\r\n").encode() + b"x" * 1024)
            deadline = time.monotonic() + 10
            while not upstream.seen:
                assert time.monotonic() < deadline, "nginx did not pass the request on"
                time.sleep(0.05)
    assert upstream.seen[0].headers["content-length"] == str(PORTAL_BODY_LIMIT)


# -- the portal itself behind nginx, with no writable executable memory ------------------------

#: Run a command with writable-executable memory refused for it and its children, the way
#: MemoryDenyWriteExecute=yes does under systemd (prctl PR_SET_MDWE, Linux 6.3+).
NO_WX_MEMORY = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    print("PR_SET_MDWE:", os.strerror(ctypes.get_errno()), file=sys.stderr)
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("writable executable memory is still allowed")
except PermissionError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_the_portal_serves_through_nginx_without_writable_executable_memory(
    tmp_path: Path,
) -> None:
    from tests.portal.forms import open_thread, receipt_of, submit_report
    from triage.client import PortalClient

    oversight, console = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    sign_pk = bytes(crypto.SigningKey.generate().verify_key)
    (tmp_path / "oversight.json").write_text(
        json.dumps(
            {
                "oversight_public_key": crypto.b64u_encode(bytes(oversight.public_key)),
                "oversight_sign_key": crypto.b64u_encode(sign_pk),
            }
        )
    )
    (tmp_path / "console.pub").write_text(crypto.b64u_encode(bytes(console.verify_key)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    data = tmp_path / "portal"
    subprocess.run(
        [LANTHORN, "portal", "init", "--data", data]
        + [
            "--oversight-key",
            tmp_path / "oversight.json",
            "--console-key",
            tmp_path / "console.pub",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    port, onion_port = free_port(), free_port()
    # The console below signs for the onion listener's address, as nginx passes it on.
    hosts = {"LANTHORN_HOSTS": f"127.0.0.1:{onion_port}"}
    portal = subprocess.Popen(
        [sys.executable, "-c", NO_WX_MEMORY, LANTHORN, "portal", "serve", "--data", data]
        + ["--port", str(port), "--workers", "2"],
        env={**env, **hosts},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    direct = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if portal.poll() == 77 and not os.environ.get("LANTHORN_REQUIRE_DEPLOY_TOOLS"):
                pytest.skip("this kernel cannot refuse writable executable memory (PR_SET_MDWE)")
            assert portal.poll() is None, portal.communicate()[0]
            try:
                httpx.get(direct + "/api/v1/config").raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.2)
        attachment = os.urandom(1 << 20)
        with running_nginx(tmp_path / "nginx", port, onion_port) as proxy:
            with proxy.client(proxy.tls) as web:
                sent = submit_report(web, files=[("evidence.bin", attachment, "image/png")])
                assert sent.status_code == 201, sent.text
                receipt = receipt_of(sent)
                page, plain = web.get("/report/staff"), httpx.get(direct + "/report/staff")
                for name in SECURITY_HEADERS:
                    assert page.headers.get_list(name) == plain.headers.get_list(name), name
            with proxy.client(proxy.tls) as fresh:
                cookies = fresh.get("/follow-up").headers.get_list("set-cookie")
            assert cookies
            assert all(c.endswith("; Secure") for c in cookies), cookies
            with httpx.Client(base_url=proxy.onion) as onion:
                assert open_thread(onion, receipt).status_code == 303
                assert "strict-transport-security" not in onion.get("/").headers
            # The console's signed requests (method, path and query, body) survive the
            # proxy; the attachment streams back out.
            with PortalClient(proxy.onion, console, time.time) as client:
                (item,) = client.outbox()["items"]
                sealed = crypto.b64u_decode(item["sealed"])
                report = crypto.open_document(sealed, oversight, versions=(2,))
                assert [a["size"] for a in report["attachments"]] == [len(attachment)]
                stored = b"".join(client.blob(item["blob_ids"][0]))
                assert len(stored) == crypto.stored_size(len(attachment))
    finally:
        portal.terminate()
        output = portal.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


# -- systemd units ---------------------------------------------------------------------------


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values, in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


#: What every long-running Lanthorn service must keep (docs/operations.md, "systemd").
SANDBOX = {
    "UMask": ["0077"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["yes"],
    "NoNewPrivileges": ["yes"],
    "CapabilityBoundingSet": [""],
    "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectKernelLogs": ["yes"],
    "ProtectControlGroups": ["yes"],
    "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
    "MemoryDenyWriteExecute": ["yes"],
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "LimitCORE": ["0"],
    "MemorySwapMax": ["0"],
}
SERVICES = {
    PORTAL_UNIT: ("/srv/lanthorn/portal", "/etc/lanthorn/portal.env"),
    CONSOLE_UNITS[0]: ("/srv/lanthorn/console", "/etc/lanthorn/console.env"),
    CONSOLE_UNITS[1]: ("/srv/lanthorn/console", "/etc/lanthorn/console.env"),
}


@pytest.mark.parametrize("path", list(SERVICES), ids=lambda p: p.name)
def test_services_are_sandboxed(path: Path) -> None:
    service = read_unit(path)["Service"]
    data, env_file = SERVICES[path]
    for key, value in SANDBOX.items():
        assert service.get(key) == value, f"{path.name}: {key}"
    assert service["User"] == ["lanthorn"]
    assert service["ReadWritePaths"] == [data]
    assert service["EnvironmentFile"] == [env_file]
    command = " ".join(service["ExecStart"])
    assert f"--data {data}" in command
    assert "LANTHORN_UNSEAL_PASSPHRASES" not in " ".join(service.get("Environment", []))


def test_the_console_starts_sealed_on_one_address() -> None:
    service = read_unit(CONSOLE_UNITS[0])["Service"]
    (command,) = service["ExecStart"]
    assert "--host ${CONSOLE_HOST}" in command
    assert "--portal ${PORTAL_URL} --sync-every ${SYNC_EVERY}" in command
    assert "CONSOLE_HOST=127.0.0.1" in service["Environment"][0]  # when console.env omits it
    example = (DEPLOY / "console" / "console.env.example").read_text(encoding="utf-8")
    settings = [line for line in example.splitlines() if line and not line.startswith("#")]
    assert {line.split("=")[0] for line in settings} == {
        "CONSOLE_HOST",
        "CONSOLE_PORT",
        "PORTAL_URL",
        "SYNC_EVERY",
    }


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` needs ExecStart's program to exist: a stub stands in."""
    analyze = tool("systemd-analyze")
    stub = tmp_path / "bin" / "lanthorn"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for path in [PORTAL_UNIT, *CONSOLE_UNITS]:
        text = path.read_text(encoding="utf-8")
        (units / path.name).write_text(text.replace(INSTALLED_LANTHORN, str(stub)))
    copies = sorted(str(p) for p in units.iterdir())
    result = subprocess.run(
        [analyze, "verify", "--man=no", "--generators=no", "--recursive-errors=no", *copies],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    # verify only warns about an unknown key or a bad value: any line naming our files fails.
    ours = [line for line in result.stderr.splitlines() if "lanthorn" in line]
    assert result.returncode == 0, result.stderr
    assert not ours, "\n".join(ours)
    for copy in copies:
        if copy.endswith(".service"):
            exposure = subprocess.run(
                [analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", copy],
                capture_output=True,
                text=True,
                check=False,
            )
            assert exposure.returncode == 0, exposure.stdout.splitlines()[-1:]


# -- tor ----------------------------------------------------------------------------------


def test_tor_accepts_the_torrc(tmp_path: Path) -> None:
    tor = tool("tor")
    modules = subprocess.run([tor, "--list-modules"], capture_output=True, text=True, check=True)
    assert "pow: yes" in modules.stdout, "this tor ignores the proof-of-work options"
    text = TORRC.read_text(encoding="utf-8")
    for line, swap in (
        ("DataDirectory /var/lib/tor\n", f"DataDirectory {tmp_path / 'data'}\n"),
        ("HiddenServiceDir /var/lib/tor/lanthorn/\n", f"HiddenServiceDir {tmp_path / 'hs'}/\n"),
    ):
        assert line in text, f"{line.strip()!r} is no longer in the torrc: update this test"
        text = text.replace(line, swap)
    torrc = tmp_path / "torrc"
    torrc.write_text(text)
    # Debian's service reads its own defaults first; this torrc must override them. Their
    # `User debian-tor` goes: that user could not read this test's private directory.
    debian = Path("/usr/share/tor/tor-service-defaults-torrc")
    lines = debian.read_text().splitlines() if debian.exists() else []
    defaults = tmp_path / "defaults-torrc"
    defaults.write_text("".join(f"{x}\n" for x in lines if not x.startswith("User ")))
    command = [tor, "--defaults-torrc", str(defaults), "-f", str(torrc)]
    verify = subprocess.run(
        [*command, "--verify-config"], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout
    # tor accepts abbreviated option names: check what it understood, not what we wrote.
    dumped = subprocess.run(
        [*command, "--dump-config", "short"], capture_output=True, text=True, check=True
    )
    effective = dumped.stdout.splitlines()
    assert "SocksPort 0" in effective
    assert "HiddenServicePoWDefensesEnabled 1" in effective
    assert "HiddenServicePort 80 127.0.0.1:8090" in effective
    options = [line.split(None, 1) for line in TORRC.read_text().splitlines()]
    options = [option for option in options if option and not option[0].startswith("#")]
    assert ["SafeLogging", "1"] in options
    assert all(value.startswith("notice ") for name, value in options if name == "Log")


# -- the PostgreSQL script ----------------------------------------------------------------------

POSTGRES_SETUP = DEPLOY / "portal" / "postgres-setup.sh"


def test_the_postgres_script_explains_itself_and_passes_shellcheck() -> None:
    assert os.access(POSTGRES_SETUP, os.X_OK)
    subprocess.run([tool("bash"), "-n", POSTGRES_SETUP], check=True)
    result = subprocess.run([POSTGRES_SETUP, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "peer" in result.stdout
    wrong = subprocess.run([POSTGRES_SETUP, "--nonsense"], capture_output=True, text=True)
    assert wrong.returncode == 2
    shellcheck = tool("shellcheck")
    checked = subprocess.run(
        [shellcheck, POSTGRES_SETUP, ROOT / "deploy" / "kiosk" / "launch-kiosk"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
