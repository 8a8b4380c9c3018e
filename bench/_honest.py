"""The honest reporters of bench/attack.py: a steady stream of reports, whatever happens.

Two streams, each at a fixed rate whatever the portal does (open loop: a slow portal does
not slow the arrivals, as it would not slow real reporters down):

- no-JavaScript staff reports: GET `/report/staff` (CSRF cookie and token, the form's
  one-time value), POST the multipart form; the portal derives the reporter's keys with
  production Argon2id and seals the report. Accepted: a 201 page that shows a receipt.
- API reports: keys derived from a receipt before the run (so the client's Argon2id never
  competes with the portal during a phase), the attachment's stored form encrypted before
  the run too; POST `/api/v1/blobs` for the attachment, then seal and POST
  `/api/v1/reports`. Accepted: a 201 with a case number. An attachment the portal
  refuses is left out, as the upload's 503 says to, and counted.

One report in four carries a photo-sized file (random bytes, 120 to 400 kB). Each report
runs on a thread of a pool, with a new connection for every request (as nginx makes them
to the portal) and, for the form, no cookie from an earlier report: a new browser.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from _browser import FORM_FIELDS, receipt_in

import crypto
from tests.portal.clients import stored_blob
from tests.portal.forms import hidden_fields
from tests.reliability.reporters import CLIENT_KDF, PortalKeys, report_body

ATTACH_EVERY = 4
PHOTO_SIZES = (120_000, 250_000, 400_000)
TIMEOUT = 60.0  # seconds an honest reporter waits for any one answer
POOL = 256  # threads at most: enough that a stalled portal never delays the arrivals


@dataclass
class Report:
    """One honest report: when it was due, what the portal answered, what came back."""

    kind: str  # "form" or "api"
    due: float  # time.monotonic() when it was to start; latency counts from here
    with_file: bool
    statuses: list[int] = field(default_factory=list)  # of every request it made
    errors: list[str] = field(default_factory=list)  # transport errors, by exception name
    latency: float | None = None  # set when it is over, accepted or not
    receipt: str = ""  # form: the receipt on the 201 page
    case: str = ""  # api: the case number of the 201
    lookup_id: bytes = b""  # api: known before sending; form: derived when read back
    file_refused: bool = False  # api: the upload was refused, the report sent without it

    @property
    def accepted(self) -> bool:
        return bool(self.receipt or self.case)


@dataclass(frozen=True)
class Prepared:
    """An API report's receipt, keys and attachment, made before the run."""

    receipt: str
    keys: crypto.ReporterKeys
    blob: tuple[bytes, bytes, crypto.BlobSummary] | None  # key, stored form, summary


def photo(index: int) -> bytes:
    return os.urandom(PHOTO_SIZES[index % len(PHOTO_SIZES)])


def prepare_api(count: int, salt: bytes) -> list[Prepared]:
    """`count` API reports' keys and stored attachments, so that none is made mid-phase."""
    prepared = []
    for index in range(count):
        receipt = crypto.generate_receipt()
        keys = crypto.derive_reporter_keys(receipt, salt, CLIENT_KDF)
        blob = stored_blob(photo(index // ATTACH_EVERY)) if index % ATTACH_EVERY == 0 else None
        prepared.append(Prepared(receipt, keys, blob))
    return prepared


def _status(report: Report, response: httpx.Response) -> int:
    report.statuses.append(response.status_code)
    return response.status_code


def send_form(client: httpx.Client, report: Report, file: bytes | None) -> None:
    client.cookies.clear()  # a new browser: no CSRF cookie from the last report
    page = client.get("/report/staff")
    if _status(report, page) != 200:
        return
    data = {**hidden_fields(page.text, action="/report/staff"), **FORM_FIELDS}
    if file is not None:
        files = [("attachments", ("photo.jpg", file, "image/jpeg"))]
    else:  # a browser sends an empty file part when no file is chosen
        files = [("attachments", ("", b"", "application/octet-stream"))]
    response = client.post("/report/staff", data=data, files=files)
    if _status(report, response) == 201:
        report.receipt = receipt_in(response.text) or ""


def send_api(client: httpx.Client, report: Report, keys: PortalKeys, prepared: Prepared) -> None:
    descriptors: list[dict[str, Any]] = []
    if prepared.blob is not None:
        key, stored, summary = prepared.blob
        response = client.post(
            "/api/v1/blobs", content=stored, headers={"Content-Type": "application/octet-stream"}
        )
        if _status(report, response) == 201:
            descriptors.append(
                {
                    "blob_id": response.json()["blob_id"],
                    "name": "photo.jpg",
                    "mime": "image/jpeg",
                    "key": crypto.b64u_encode(key),
                    "size": summary.size,
                    "sha256": summary.sha256,
                }
            )
        else:
            report.file_refused = True
    # Sealed now, as a client seals once its uploads are in (the descriptors name them).
    body = report_body(keys, prepared.keys, "attack benchmark", descriptors)
    report.lookup_id = prepared.keys.lookup_id
    response = client.post("/api/v1/reports", json=body)
    if _status(report, response) == 201:
        report.case = str(response.json().get("case", ""))


class Traffic:
    """The two honest streams, from `start` until `stop`; every report in `reports`."""

    def __init__(
        self,
        url: str,
        keys: PortalKeys,
        prepared: list[Prepared],
        form_rate: float,
        api_rate: float,
    ) -> None:
        self.url = url
        self.keys = keys
        self.prepared = iter(prepared)
        self.form_rate, self.api_rate = form_rate, api_rate
        self.reports: list[Report] = []
        self.late = 0.0  # the most a report started after it was due (client side)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(POOL, thread_name_prefix="honest")
        self._futures: list[concurrent.futures.Future[None]] = []
        self._threads = [
            threading.Thread(target=self._arrivals, args=(rate, job, offset), daemon=True)
            for rate, job, offset in (
                (form_rate, self._form, 0.0),
                (api_rate, self._api, 0.5 / api_rate if api_rate else 0.0),
            )
            if rate > 0
        ]

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
            client = httpx.Client(base_url=self.url, timeout=TIMEOUT, limits=limits)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _run(self, report: Report, send: Callable[[httpx.Client, Report], None]) -> None:
        with self._lock:
            self.late = max(self.late, time.monotonic() - report.due)
        try:
            send(self._client(), report)
        except httpx.HTTPError as exc:
            report.errors.append(type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a broken page must not stop the stream
            report.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        report.latency = time.monotonic() - report.due

    def _form(self, index: int, due: float) -> Report:
        with_file = index % ATTACH_EVERY == 0
        report = Report("form", due, with_file)
        file = photo(index // ATTACH_EVERY) if with_file else None
        self._submit(report, lambda client, r: send_form(client, r, file))
        return report

    def _api(self, index: int, due: float) -> Report:
        prepared = next(self.prepared, None)
        if prepared is None:  # more than was prepared: make one now (cheap KDF)
            prepared = prepare_api(1, self.keys.salt)[0]
        report = Report("api", due, prepared.blob is not None)
        self._submit(report, lambda client, r: send_api(client, r, self.keys, prepared))
        return report

    def _submit(self, report: Report, send: Callable[[httpx.Client, Report], None]) -> None:
        with self._lock:
            self.reports.append(report)
            self._futures.append(self._pool.submit(self._run, report, send))

    def _arrivals(self, rate: float, job: Callable[[int, float], Report], offset: float) -> None:
        due = self._start + offset
        for index in itertools.count():
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            job(index, due)
            due += 1 / rate

    def start(self) -> None:
        self._start = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """No new reports; wait for those under way (each request gives up after TIMEOUT)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures)
        self._pool.shutdown()
        for client in self._clients:
            client.close()
