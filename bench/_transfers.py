"""Large transfers through the portal: speed against raw secretstream, and server memory.

An HTML report with one large attachment, the console's download of it, and a large
stored-form blob to the JSON API, each streamed (the client never holds the file) and
verified against the SHA-256 of what was sent.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import _gpg
import httpx
from _browser import FORM_FIELDS, browser_form, form_token, receipt_in
from _memory import MemoryReport, TreeSampler
from _report import MB, MIB, fmt_mib, fmt_ms, fmt_size, progress, table
from _server import Portal
from _streams import CHUNK, NullSink, PatternFile, pattern_block, raw_push
from _timing import interleaved
from _verdict import against_limit

import crypto

MEMORY_LIMIT = 32 * MIB  # what a streamed file may add to any one server process
RAW_REPEATS = 3
ACK_ALL_CURSOR = "999999999999999999"  # an outbox cursor past every item: "ack everything"


class Prober:
    """GETs /api/v1/config on a new connection every 100 ms, timing each answer.

    Shows whether a transfer stalls the server for other visitors (e.g. by blocking an
    event loop). Connections land on whichever worker accepts first.
    """

    def __init__(self, url: str) -> None:
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                if self._client.get("/api/v1/config").status_code == 200:
                    self.latencies.append(time.perf_counter() - start)
            except httpx.HTTPError:
                pass
            self._stop.wait(0.1)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def summary(self) -> str:
        if not self.latencies:
            return "—"
        return f"{fmt_ms(statistics.median(self.latencies))} / {fmt_ms(max(self.latencies))}"


@dataclass
class Transfer:
    label: str
    seconds: float
    plaintext: int
    memory: MemoryReport
    probe: str
    verified: bool
    detail: str
    derives_keys: bool = False  # the request also runs Argon2id (the HTML report)


class Watch:
    """Times one transfer while sampling the server's memory and probing its latency."""

    def __init__(self, portal: Portal) -> None:
        self.sampler = TreeSampler(portal.process.pid)
        self.prober = Prober(portal.url)
        self.start = self.seconds = 0.0

    def __enter__(self) -> Watch:
        self.sampler.__enter__()
        self.prober.__enter__()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        self.prober.__exit__()
        self.sampler.__exit__()

    @property
    def memory(self) -> MemoryReport:
        assert self.sampler.report is not None
        return self.sampler.report

    def transfer(self, label: str, size: int, verified: bool, detail: str) -> Transfer:
        memory, probe = self.memory, self.prober.summary()
        return Transfer(label, self.seconds, size, memory, probe, verified, detail)


def _stored_form(size: int, key: bytes, summary: list[crypto.BlobSummary]) -> Iterator[bytes]:
    """The v1 stored form of a `PatternFile(size)`, encrypted as it is sent."""
    writer = crypto.BlobWriter(key)
    yield writer.header
    source = PatternFile(size)
    while block := source.read(CHUNK):
        if out := writer.write(block):
            yield out
    yield writer.finish()
    summary.append(writer.summary)


def _ack_everything(portal: Portal, client: httpx.Client) -> None:
    """Acknowledge every outbox item, so the next outbox page holds only new reports.
    Items get their outbox position when the outbox is read, so read it first."""
    listing = "/api/v1/console/outbox?limit=1"
    response = client.get(listing, headers=portal.signed_headers("GET", listing))
    assert response.status_code == 200, response.text
    body = json.dumps({"cursor": ACK_ALL_CURSOR}).encode()
    target = "/api/v1/console/ack"
    headers = {"Content-Type": "application/json", **portal.signed_headers("POST", target, body)}
    response = client.post(target, content=body, headers=headers)
    assert response.status_code == 200, response.text


def html_control(portal: Portal, client: httpx.Client) -> MemoryReport:
    """Server memory for one HTML report without a file: Argon2id's share, for comparison."""
    progress("control: server memory for one HTML report without a file")
    body, content_type = browser_form(form_token(client))
    with TreeSampler(portal.process.pid) as sampler:
        headers = {"Content-Type": content_type}
        response = client.post("/report/staff", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert sampler.report is not None
    return sampler.report


def html_upload(portal: Portal, size: int, client: httpx.Client) -> tuple[Transfer, Any]:
    _ack_everything(portal, client)
    token = form_token(client)
    source = PatternFile(size)
    files = [("attachments", ("evidence.bin", cast(BinaryIO, source), "application/octet-stream"))]
    progress(f"upload: HTML report with a {fmt_size(size)} attachment")
    with Watch(portal) as watch:
        response = client.post(
            "/report/staff", data={"csrf": token, **FORM_FIELDS}, files=files, timeout=None
        )
    # Up to the moment the client sent the last byte: streaming, before any Argon2id.
    sent_all = source.finished_at if source.finished_at is not None else float("inf")
    watch.memory.streaming_growth = watch.sampler.worst_growth_until(sent_all)
    ok = response.status_code == 201 and receipt_in(response.text) is not None
    detail = f"HTTP {response.status_code}" + ("" if ok else f": {response.text[:300]}")
    descriptor: Any = None
    if ok:
        progress("checking the attachment: outbox, open the report, compare SHA-256")
        target = "/api/v1/console/outbox?limit=10"
        items = client.get(target, headers=portal.signed_headers("GET", target)).json()["items"]
        sealed = crypto.b64u_decode(items[0]["sealed"])
        report = crypto.open_document(sealed, portal.oversight, versions=(1, 2))
        descriptor = report["attachments"][0]
        ok = (
            len(items) == 1
            and descriptor["size"] == size
            and descriptor["sha256"] == source.sha256()
            and items[0]["blob_ids"] == [descriptor["blob_id"]]
        )
        detail += "; sealed descriptor: size and SHA-256 " + ("match" if ok else "**DIFFER**")
    transfer = watch.transfer("HTML form: POST `/report/staff` with one file", size, ok, detail)
    transfer.derives_keys = True
    return transfer, descriptor


def console_download(portal: Portal, descriptor: Any, client: httpx.Client) -> Transfer:
    target = f"/api/v1/console/blobs/{descriptor['blob_id']}"
    reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"]))
    progress(f"download: console GET of the {fmt_size(descriptor['size'])} attachment")
    with (
        Watch(portal) as watch,
        client.stream("GET", target, headers=portal.signed_headers("GET", target)) as response,
    ):
        for piece in response.iter_bytes(CHUNK):
            reader.feed(piece)
    try:
        summary = reader.finish()
        ok = response.status_code == 200 and (summary.size, summary.sha256) == (
            descriptor["size"],
            descriptor["sha256"],
        )
    except crypto.CryptoError:
        ok = False
    detail = f"HTTP {response.status_code}; decrypted while streaming: " + (
        "SHA-256 matches" if ok else "**DOES NOT MATCH**"
    )
    label = "console: GET `/api/v1/console/blobs/{id}`, decrypted as it arrives"
    return watch.transfer(label, int(descriptor["size"]), ok, detail)


def api_blob_upload(portal: Portal, size: int, client: httpx.Client) -> Transfer:
    key = crypto.new_blob_key()
    summary: list[crypto.BlobSummary] = []
    stored = crypto.stored_size(size)
    progress(f"upload: API blob, {fmt_size(size)} encrypted client-side as it is sent")
    with Watch(portal) as watch:
        response = client.post(
            "/api/v1/blobs",
            content=_stored_form(size, key, summary),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(stored)},
            timeout=None,
        )
    ok = response.status_code == 201
    detail = f"HTTP {response.status_code}" + ("" if ok else f": {response.text[:300]}")
    if ok:
        progress("checking the blob: decrypt the stored file on the portal's disk")
        path = portal.data_dir / "blobs" / response.json()["blob_id"]
        with open(path, "rb") as src:
            got = crypto.decrypt_file(src, cast(BinaryIO, NullSink()), key)
        ok = path.stat().st_size == stored and got == summary[0]
        detail += "; stored file decrypts to the same SHA-256: " + ("yes" if ok else "**NO**")
    label = "JSON API: POST `/api/v1/blobs`, stored form, encrypted client-side"
    return watch.transfer(label, size, ok, detail)


def _raw_rates(raw_bytes: int, when: str) -> tuple[float, float]:
    """Bytes/s of raw secretstream push in this process, without and with SHA-256,
    measured in turn (interleaved) so that both see the same moment of the machine."""
    count = raw_bytes // CHUNK
    block, key = pattern_block(), crypto.new_blob_key()
    progress(f"raw secretstream push {when}, {fmt_size(count * CHUNK)} × {RAW_REPEATS}, twice")
    raw_push(key, block, count)  # warm up
    rates = interleaved(
        {
            "plain": lambda: raw_push(key, block, count),
            "hashed": lambda: raw_push(key, block, count, hash_too=True),
        },
        RAW_REPEATS,
    )
    return rates["plain"], rates["hashed"]


def _worst_growth(m: MemoryReport) -> int:
    """The largest growth of one server process, sampled or from its high-water mark."""
    return max(m.worst_pid_growth, m.hwm_growth or 0)


def _memory_row(label: str, m: MemoryReport, streamed: str, due: str, under: str) -> list[str]:
    return [
        label,
        fmt_mib(m.baseline_total),
        fmt_mib(m.peak_total),
        fmt_mib(m.peak_total - m.baseline_total),
        fmt_mib(m.worst_pid_growth),
        "—" if m.hwm_growth is None else fmt_mib(m.hwm_growth),
        streamed,
        due,
        fmt_mib(m.client_growth),
        under,
    ]


def transfers_section(portal: Portal, size: int, raw_bytes: int) -> tuple[str, bool]:
    # The baselines bracket the transfers: raw secretstream before and after them, and
    # SecureDrop's pipeline just before, so that every ratio's limit shares its window.
    push_before, hashed_before = _raw_rates(raw_bytes, "before the transfers")
    gpg_missing = _gpg.available()
    gpg_rate = None if gpg_missing else size / _gpg.gzip_gpg_seconds(size, portal.data_dir)
    with httpx.Client(base_url=portal.url, timeout=600) as client:
        control = html_control(portal, client)
        upload, descriptor = html_upload(portal, size, client)
        transfers = [upload]
        if descriptor is not None:
            transfers.append(console_download(portal, descriptor, client))
        transfers.append(api_blob_upload(portal, size, client))
    push_after, hashed_after = _raw_rates(raw_bytes, "after the transfers")
    # The larger reading of each limit: a ratio to it is never flattered by a slow moment.
    push, hashed = max(push_before, push_after), max(hashed_before, hashed_after)

    raw_size = fmt_size(raw_bytes)
    speed_rows = []
    for when, p, h in (("before", push_before, hashed_before), ("after", push_after, hashed_after)):
        speed_rows += [
            [f"raw `crypto_secretstream_xchacha20poly1305_push`, {when}", raw_size, "—"]
            + [f"{p / MB:,.0f}", *["—"] * 6],
            [f"raw push + `hashlib.sha256`, {when}", raw_size, "—", f"{h / MB:,.0f}"]
            + [f"{h / p:.2f}", *["—"] * 5],
        ]
    if gpg_rate is not None:
        speed_rows.append(
            [f"SecureDrop's pipeline: `{_gpg.PIPELINE}`, to disk", fmt_size(size)]
            + [f"{size / gpg_rate:.2f} s", f"{gpg_rate / MB:,.0f}", f"{gpg_rate / push:.2f}"]
            + [f"{gpg_rate / hashed:.2f}", "1.00", *["—"] * 3]
        )
    label = "control: HTML form without a file (one Argon2id derivation)"
    memory_rows = [_memory_row(label, control, "—", "—", "—")]
    peak_rows = [[label, control.peaks_text()]]
    ok = True
    for t in transfers:
        rate, m = t.plaintext / t.seconds, t.memory
        speed_rows.append(
            [t.label, fmt_size(t.plaintext), f"{t.seconds:.2f} s", f"**{rate / MB:,.0f}**"]
            + [f"{against_limit(rate, push, t.label + ' ÷ raw push'):.2f}"]
            + [f"{rate / hashed:.2f}"]
            + ["—" if gpg_rate is None else f"{rate / gpg_rate:.2f}"]
            + [f"{m.server_cpu:.1f} s", f"{m.client_cpu:.1f} s", t.probe]
        )
        # The HTML report also derives keys (64 MiB of Argon2id, whatever the file size)
        # once the body is in: what the file itself costs is the growth while it streamed,
        # or the growth beyond the control's, whichever is larger.
        if t.derives_keys:
            from_file = max(m.streaming_growth, _worst_growth(m) - _worst_growth(control))
        else:
            from_file = _worst_growth(m)
        under = from_file < MEMORY_LIMIT
        ok = ok and under and t.verified
        due, verdict = f"**{fmt_mib(from_file)}**", "yes" if under else "**NO**"
        memory_rows.append(_memory_row(t.label, m, fmt_mib(m.streaming_growth), due, verdict))
        peak_rows.append([t.label, m.peaks_text()])

    speed_headers = ["transfer", "plaintext", "time", "MB/s", "÷ raw push"]
    speed_headers += ["÷ raw push + SHA-256", "÷ SecureDrop's pipeline"]
    speed_headers += ["server CPU", "client CPU", "probe p50 / max"]
    memory_headers = ["server RSS", "baseline", "peak", "growth", "worst process growth"]
    memory_headers += ["worst process VmHWM growth", "… while the body streamed"]
    memory_headers += ["due to the file", "client growth", f"< {fmt_size(MEMORY_LIMIT)}"]
    samples = ", ".join(str(t.memory.samples) for t in transfers)
    checks = "\n".join(f"- {t.label}: {t.detail}." for t in transfers)
    speed_notes = (
        "MB/s counts plaintext bytes over the wall time of the request, 1 MB = 10^6 bytes; "
        "the ratios compare with raw secretstream measured in this process just before and "
        "just after the transfers (both readings printed; each ratio uses the faster one, "
        "and one above 1.0 fails the run). The HTML path must also hash every byte for the "
        "blob descriptor, hence the second baseline. "
        "Times include writing and fsyncing the stored form on the portal's disk, and for "
        "the HTML report one Argon2id derivation. The client generates the data as it goes "
        "(a 1 MiB random pattern, repeated) and shares the cores with the server; for the "
        'API blob it also encrypts. "server CPU" sums user + system time of all server '
        'processes during the transfer. "probe" = GET `/api/v1/config` on a new connection '
        "every 100 ms during the transfer (whichever worker accepts it). "
        + (
            "The SecureDrop row is its storage step as SecureDrop runs it (gzip at level 9, "
            "then GnuPG to the instance's RSA 4096 key *without compressing again*), run "
            f"just before the transfers as `{_gpg.PIPELINE}` on the same plaintext, "
            "then fsynced: a server that stored uploads that way, on this machine."
            if gpg_missing is None
            else f"SecureDrop's pipeline: {gpg_missing}."
        )
    )
    memory_notes = (
        f"RSS of the server's {transfers[0].memory.processes} processes (`lanthorn portal "
        f"serve`, its uvicorn workers and helpers), sampled every 50 ms ({samples} samples). "
        'Baseline = median of 5 samples just before the transfer; "growth" = peak total '
        'less baseline total; "worst process growth" = the largest rise of any single '
        'process. "VmHWM growth" = each process\'s kernel high-water mark, reset '
        "(`/proc/PID/clear_refs`) just before the transfer, less its RSS at the reset: it "
        'also catches peaks between samples. "while the body streamed" = the worst sampled '
        "growth up to the moment the client had sent the last byte (the whole transfer, "
        'except for the HTML upload). "due to the file" = the larger of the two '
        "worst-process figures; for the HTML upload, which also derives keys with "
        f"{crypto.V1_KDF.m_kib // 1024} MiB of Argon2id once the body is in, the larger of "
        "its growth while the body streamed and its growth beyond the control's (an HTML "
        "report without a file). The requirement is that it stays under "
        f"{fmt_size(MEMORY_LIMIT)}, whatever the file size."
    )
    verdict = (
        f"Checks:\n\n{checks}\n\nRequirement (the file makes no server process grow by "
        f"{fmt_size(MEMORY_LIMIT)} or more during a {fmt_size(size)} transfer, and every "
        f"transfer verifies): {'met' if ok else '**NOT MET**'}."
    )
    speed = table(speed_headers, speed_rows)
    memory = table(memory_headers, memory_rows)
    peaks = table(["absolute peak RSS of each server process", "peak RSS"], peak_rows)
    peak_notes = (
        "Absolute figures, not growth: each process's peak RSS during the transfer (the "
        "larger of the 50 ms samples and its kernel high-water mark, reset just before), "
        '"all" = the largest sampled sum over the whole tree. A limit on the machine\'s '
        "memory is about these; the requirement above is about growth caused by the file."
    )
    parts = [speed, speed_notes, memory, memory_notes, peaks, peak_notes, verdict]
    return "\n\n".join(parts), ok
