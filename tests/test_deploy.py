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
from foundation.headers import SECURITY_HEADERS
from foundation.languages import LANGUAGES, RTL
from portal import nginx_pages
from portal.cli import descriptors_needed
from portal.i18n import load_catalogues
from portal.settings import Limits, PortalSettings
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
#: Where docs/operations.md ("Install") puts this checkout on a server.
INSTALLED_SOURCE = "/opt/lanthorn/src/"
#: nginx's own pages (portal/nginx_pages.py), served from the checkout.
ERROR_PAGES = DEPLOY / "portal" / "errors"

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


def proxied(server: Directive) -> Directive:
    """The location that passes requests to the portal."""
    (location,) = [d for d in server.all("location") if d.args == ["/"]]
    return location


def own_pages(server: Directive) -> Directive:
    """The internal location serving nginx's own refusals (deploy/portal/errors/)."""
    (location,) = [d for d in server.all("location") if d.args != ["/"]]
    return location


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
    # One exception: the key of the per-address connection counter, which lives in nginx's
    # shared memory while the address has a connection open, and is written nowhere.
    text = SITE.read_text(encoding="utf-8")
    counters = [d for d in site.all("limit_conn_zone") if d.args[0] == "$binary_remote_addr"]
    assert len(counters) == 1
    assert len(ADDRESS_VARIABLES.findall(text)) == 1
    assert not ADDRESS_VARIABLES.search(text.replace("limit_conn_zone $binary_remote_addr", ""))
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
    assert not server.all("proxy_intercept_errors")  # the portal's own errors pass as sent
    location = proxied(server)
    assert len(server.all("location")) == 2  # and own_pages: internal, see below
    # No URI part: nginx then passes the request target exactly as the client sent it.
    assert location.one("proxy_pass") == ["http://127.0.0.1:8080"]
    headers = {d.args[0].lower(): d.args[1:] for d in location.all("proxy_set_header")}
    for name in ADDRESS_HEADERS:
        assert headers.get(name) == [""], f"{name} must be blanked, never set"


def test_the_portals_security_headers_are_left_alone(site: Directive) -> None:
    """On what the portal answers, that is: nginx's own pages carry copies (below)."""
    ours = {name.lower() for name in SECURITY_HEADERS}
    roles = servers(site)
    pages = {id(d) for role in ("tls", "onion") for d in own_pages(roles[role]).all("add_header")}
    for directive in (
        "add_header",
        "proxy_hide_header",
        "proxy_ignore_headers",
        "more_set_headers",
    ):
        for found in site.all(directive):
            if id(found) not in pages:
                assert found.args[0].lower() not in ours, f"{directive} {found.args[0]}"
    added = {d.args[0]: d.args[1:] for d in roles["tls"].block or [] if d.name == "add_header"}
    assert "Strict-Transport-Security" not in SECURITY_HEADERS  # so the proxy adds it
    assert added["Strict-Transport-Security"][1:] == ["always"]
    assert roles["tls"].one("proxy_cookie_flags") == ["~", "secure"]
    # Plain HTTP inside a Tor circuit: HSTS and Secure cookies would break the onion site.
    assert not [d for d in roles["onion"].all("add_header") if "Strict" in d.args[0]]
    assert not roles["onion"].all("proxy_cookie_flags")


def test_nginx_answers_its_own_refusals_with_the_portals_pages(site: Directive) -> None:
    """Past a cap (503) or over the body limit (413), nginx answers with a page from
    deploy/portal/errors/, served from the checkout, with the portal's security headers;
    Retry-After on the 503 only."""
    roles = servers(site)
    (retry_after,) = [d for d in site.all("map") if d.args == ["$status", "$lanthorn_retry_after"]]
    assert {d.name: d.args for d in retry_after.block or []} == {"503": ["60"], "default": [""]}
    for role in ("tls", "onion"):
        server = roles[role]
        location = own_pages(server)
        (prefix,) = location.args[1:]
        assert location.args[0] == "^~"
        assert prefix.endswith("/")  # with alias: no path outside the directory
        assert location.one("internal") == []
        # The checkout the runbook installs; the pages are this repository's files.
        (alias,) = location.one("alias")
        assert alias == INSTALLED_SOURCE + "deploy/portal/errors/"
        assert ROOT / alias.removeprefix(INSTALLED_SOURCE) == ERROR_PAGES
        assert location.one("default_type") == ["text/html; charset=utf-8"]
        pages = {
            status: d.args[-1]
            for d in server.block or []
            if d.name == "error_page"
            for status in d.args[:-1]
        }
        assert pages == {
            str(status): prefix + name
            for name, (statuses, *_) in nginx_pages.PAGES.items()
            for status in statuses
        }
        headers = {d.args[0]: d.args[1:] for d in location.all("add_header")}
        wanted = {name: [value, "always"] for name, value in SECURITY_HEADERS.items()}
        wanted["Retry-After"] = ["$lanthorn_retry_after", "always"]
        if role == "tls":
            wanted["Strict-Transport-Security"] = ["max-age=63072000", "always"]
        assert headers == wanted


def test_nginx_pages_are_what_the_catalogues_say_now() -> None:
    """The committed pages are what portal/nginx_pages.py builds from the catalogues
    today: a changed or newly translated string fails here until they are rebuilt."""
    built = nginx_pages.build()
    committed = {p.name: p.read_text(encoding="utf-8") for p in ERROR_PAGES.iterdir()}
    assert committed == built, "run ./scripts/nginx-pages"
    catalogues = load_catalogues()
    for name, page in built.items():
        _, heading, text = nginx_pages.PAGES[name]
        for code in LANGUAGES:
            direction = "rtl" if code in RTL else "ltr"
            assert f'<section lang="{code}" dir="{direction}">' in page, (name, code)
            for words in (heading, text):
                translated = catalogues[code].gettext(words)
                assert code == "en" or translated != words, (name, code, words)
                assert translated in page
        # Nothing the portal's Content-Security-Policy would refuse, nothing fetched.
        for forbidden in ("<script", "<style", " style=", "<link", "<img", "src=", "href="):
            assert forbidden not in page, (name, forbidden)


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


def seconds(value: str) -> float:
    """An nginx time ("30s", "1m", "500ms", "30") in seconds."""
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h)?", value)
    assert match, f"not an nginx time: {value}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    return int(match.group(1)) * scale


def connection_caps(site: Directive) -> dict[str, dict[str, int]]:
    """{role: {"total" / "per_address": cap}} from the site's limit_conn directives."""
    zones = {}
    for zone in site.all("limit_conn_zone"):
        key, spec = zone.args
        name = spec.removeprefix("zone=").split(":")[0]
        zones[name] = {"$server_name": "total", "$binary_remote_addr": "per_address"}[key]
    assert sorted(zones.values()) == ["per_address", "total"], zones
    return {
        role: {zones[d.args[0]]: int(d.args[1]) for d in server.all("limit_conn")}
        for role, server in servers(site).items()
        if role != "redirect"
    }


def test_the_proxy_and_the_unit_bound_what_reaches_the_portal(site: Directive) -> None:
    """Connections, and how long a client may leave one idle, are capped at nginx below
    what each portal worker serves; the unit lets each worker open more files than it can
    need with every one of its own bounds reached (portal/cli.py, `descriptors_needed`)."""
    defaults = PortalSettings
    caps = connection_caps(site)
    # Tor hands every onion visitor over from 127.0.0.1: only a total cap means anything.
    assert set(caps["onion"]) == {"total"}
    assert set(caps["tls"]) == {"total", "per_address"}
    assert caps["tls"]["per_address"] < caps["tls"]["total"]
    # Even if every connection nginx lets through lands on one worker, it is served.
    assert caps["tls"]["total"] + caps["onion"]["total"] < defaults.connections_per_worker
    roles = servers(site)
    for role in ("tls", "onion"):
        server = roles[role]
        assert server.one("limit_conn_status") == ["503"]
        # nginx gives up on a stalled body first; the portal's own bound is the backstop.
        assert seconds(server.one("client_body_timeout")[0]) <= 30
        assert seconds(server.one("client_body_timeout")[0]) < defaults.body_idle_seconds
        assert seconds(server.one("client_header_timeout")[0]) <= 30
        assert seconds(server.one("keepalive_timeout")[0]) <= 30
    (nofile,) = read_unit(PORTAL_UNIT)["Service"]["LimitNOFILE"]
    needed = descriptors_needed(
        connections=defaults.connections_per_worker, db_concurrency=defaults.db_concurrency
    )
    assert int(nofile) >= needed, f"LimitNOFILE={nofile}, but a worker may open {needed}"


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
        INSTALLED_SOURCE: f"{ROOT}/",  # nginx's own pages, from this checkout
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


#: The stand-in upstream answers this target with a 503 of its own, as the portal does.
UPSTREAM_REFUSES = "/upstream-refuses"
#: ... and this one only after 3 s, longer than the read timeout a test sets.
UPSTREAM_HANGS = "/upstream-hangs"


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
            refuses = seen.target == UPSTREAM_REFUSES
            if seen.target == UPSTREAM_HANGS:
                time.sleep(3)
            reply = [
                "HTTP/1.1 503 Service Unavailable" if refuses else "HTTP/1.1 200 OK",
                *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
                "Set-Cookie: lanthorn_csrf=0123; HttpOnly; Path=/; SameSite=strict",
                "Content-Length: 2",
                "Connection: close",
            ]
            conn.sendall(("\r\n".join(reply) + "\r\n\r\nok").encode())


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, taken: tuple[int, ...] = ()) -> list[int]:
    """`count` distinct loopback ports, none of them in `taken` (ports chosen earlier and
    not yet listened on, which the kernel would otherwise hand out again)."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            if port not in taken:
                ports.append(port)
        return ports


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
def running_nginx(
    tmp_path: Path,
    upstream_port: int,
    rewrite: dict[str, str] | None = None,
    onion: int | None = None,
) -> Iterator[Proxy]:
    """nginx serving the site file on loopback ports, in front of `upstream_port`.

    The error log goes to a file at `info` here (it is /dev/null as shipped), so that a
    test can see whether nginx ever wrote a request or response body to disk.
    """
    nginx = tool("nginx")
    tmp_path.mkdir(exist_ok=True)
    if onion is None:
        tls, onion, redirect = free_ports(3, (upstream_port,))
    else:
        tls, redirect = free_ports(2, (upstream_port, onion))
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
            **(rewrite or {}),
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


def raw_response(answer: bytes) -> httpx.Response:
    """An answer `raw_request` read, as a response: status, headers, body as sent."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, value in (x.split(":", 1) for x in lines)]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def assert_nginx_page(response: httpx.Response, name: str, *, tls: bool) -> None:
    """One of nginx's own refusals: the committed page in every language, with the
    portal's security headers (and HSTS on TLS), and Retry-After on a 503."""
    statuses = nginx_pages.PAGES[name][0]
    assert response.status_code in statuses, response.text[:200]
    status = response.status_code
    assert response.content == (ERROR_PAGES / name).read_bytes()
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(header) == [value], header
    assert ("strict-transport-security" in response.headers) == tls
    assert response.headers.get("retry-after") == ("60" if status == 503 else None)


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
        assert_nginx_page(raw_response(over), "too-large.html", tls=False)
        assert not upstream.seen
        # Exactly the limit goes through to the portal, which then reads it as it streams.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((head.format(PORTAL_BODY_LIMIT) + "\r\n").encode() + b"x" * 1024)
            deadline = time.monotonic() + 10
            while not upstream.seen:
                assert time.monotonic() < deadline, "nginx did not pass the request on"
                time.sleep(0.05)
    assert upstream.seen[0].headers["content-length"] == str(PORTAL_BODY_LIMIT)


def test_nginx_caps_connections_to_the_portal(
    tmp_path: Path, upstream: Upstream, site: Directive
) -> None:
    """Past its cap, nginx answers 503 itself: in total on the onion listener (every Tor
    client is 127.0.0.1), and per address on the TLS one. Caps of 2 and 1 stand in for
    the shipped ones here. The answer is its page in every language the portal speaks,
    and what was sent past the cap never reaches the portal."""
    text = SITE.read_text(encoding="utf-8")
    (total,) = {d.args[0] for d in servers(site)["onion"].all("limit_conn")}
    (per_address,) = {
        d.args[0] for d in servers(site)["tls"].all("limit_conn") if d.args[0] != total
    }
    swaps = {}
    for zone, cap in ((total, 2), (per_address, 1)):
        found = set(re.findall(rf"limit_conn +{zone} +[0-9]+;", text))
        assert len(found) == 1, f"write each limit_conn {zone} alike: {found}"
        swaps[found.pop()] = f"limit_conn {zone} {cap};"
    held: list[socket.socket] = []

    def hold(port: int, wrap: ssl.SSLContext | None = None) -> None:
        """A request whose body never comes: nginx passes it on and keeps it open."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if wrap is not None:
            sock = wrap.wrap_socket(sock, server_hostname="report.example.org")
        held.append(sock)
        seen = len(upstream.seen)
        sock.sendall(b"POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n")
        deadline = time.monotonic() + 10
        while len(upstream.seen) == seen:
            assert time.monotonic() < deadline, "nginx did not pass the request on"
            time.sleep(0.02)

    with running_nginx(tmp_path, upstream.port, swaps) as proxy:
        onion = int(proxy.onion.rsplit(":", 1)[1])
        try:
            hold(onion)
            hold(onion)
            third = raw_request(onion, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert_nginx_page(raw_response(third), "busy.html", tls=False)
            tls = ssl.create_default_context(cafile=str(proxy.cert))
            hold(int(proxy.tls.rsplit(":", 1)[1]), tls)
            passed = len(upstream.seen)
            with proxy.client(proxy.tls) as client:
                refused = client.post("/report/staff", data={"description": "on D wing"})
                assert_nginx_page(refused, "busy.html", tls=True)
            assert len(upstream.seen) == passed
            # What the reader sees, whatever their language: busy, nothing kept, try later.
            _, heading, text = nginx_pages.PAGES["busy.html"]
            catalogues = load_catalogues()
            for code in ("en", "pl", "ar", "ur", "bn"):
                direction = "rtl" if code in RTL else "ltr"
                block = refused.text.split(f'<section lang="{code}" dir="{direction}">')[1]
                block = block.split("</section>")[0]
                for words in (heading, text):
                    assert catalogues[code].gettext(words) in block, (code, words)
        finally:
            for sock in held:
                sock.close()
        with proxy.client(proxy.tls) as client:  # the cap counts open requests only
            assert wait_until(lambda: client.get("/").status_code == 200)


def test_the_portals_own_refusals_pass_through_nginx(tmp_path: Path, upstream: Upstream) -> None:
    """A 503 from the portal (its own page, in the reader's language) arrives as the
    portal sent it: nginx's pages are for nginx's own refusals only."""
    with running_nginx(tmp_path, upstream.port) as proxy:
        with proxy.client(proxy.tls) as client:
            response = client.get(UPSTREAM_REFUSES)
        with httpx.Client(base_url=proxy.onion) as onion:
            internal = onion.get("/.nginx/busy.html")  # nginx's pages are not addressable
    assert response.status_code == 503
    assert response.text == "ok"
    assert "retry-after" not in response.headers
    assert internal.status_code == 404
    assert "Nothing you sent was kept" not in internal.text


def test_nginx_answers_for_a_portal_that_cannot(tmp_path: Path, upstream: Upstream) -> None:
    """A portal that is not running (502) or does not answer in time (504): the reader
    gets a page in every language that says a report may not have been kept and that
    sending it again is safe, not nginx's bare "Bad Gateway"."""
    timeout = {
        "proxy_read_timeout       600s;  # the portal fsyncs a large upload before it answers": (
            "proxy_read_timeout 1s;"
        ),
        "proxy_read_timeout       600s;\n": "proxy_read_timeout 1s;\n",
    }
    with running_nginx(tmp_path / "slow", upstream.port, timeout) as proxy:
        with proxy.client(proxy.tls) as client:
            late = client.get(UPSTREAM_HANGS)
        with httpx.Client(base_url=proxy.onion) as onion:
            late_onion = onion.post(UPSTREAM_HANGS, data={"description": "on D wing"})
    assert_nginx_page(late, "unavailable.html", tls=True)
    assert late.status_code == 504
    assert_nginx_page(late_onion, "unavailable.html", tls=False)
    with running_nginx(tmp_path / "down", free_port()) as proxy:  # nothing listens there
        with proxy.client(proxy.tls) as client:
            down = client.post("/report/staff", data={"description": "on D wing"})
    assert_nginx_page(down, "unavailable.html", tls=True)
    assert down.status_code == 502
    _, heading, text = nginx_pages.PAGES["unavailable.html"]
    catalogues = load_catalogues()
    for code in ("en", "cy", "ar", "so"):
        direction = "rtl" if code in RTL else "ltr"
        block = down.text.split(f'<section lang="{code}" dir="{direction}">')[1]
        block = block.split("</section>")[0]
        for words in (heading, text):
            assert catalogues[code].gettext(words) in block, (code, words)


def wait_until(condition: object, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


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
    port, onion_port = free_ports(2)
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
        with running_nginx(tmp_path / "nginx", port, onion=onion_port) as proxy:
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
        if path == PORTAL_UNIT and key == "SystemCallFilter":
            value = [*value, "setpriority"]  # only to lower a follow-up thread's priority
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
