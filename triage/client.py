"""The console's side of the sync API: signed requests to the portal (protocol v2,
docs/protocol.md §18: each names the host it is sent to).

The console only ever connects *out* to the portal; the portal never connects in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

import crypto


class SignedAuth(httpx.Auth):
    """Signs each request over its method, host, exact target, key id, body, a timestamp
    and a nonce (v2; `protocol=1` signs as v1 did, without the host and the key id)."""

    requires_request_body = True

    def __init__(
        self,
        key: crypto.SigningKey,
        clock: Callable[[], float],
        key_id: bytes | None = None,
        protocol: int = 2,
    ) -> None:
        self.key, self.clock, self.key_id, self.protocol = key, clock, key_id, protocol

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        if self.protocol == 1:
            headers = crypto.sign_request(
                self.key,
                request.method,
                target,
                request.content,
                timestamp=int(self.clock()),
                key_id=self.key_id,
            )
        else:
            headers = crypto.sign_request_v2(
                self.key,
                request.method,
                request.headers["Host"],  # as httpx sends it: with the port unless default
                target,
                request.content,
                timestamp=int(self.clock()),
                key_id=self.key_id,
            )
        request.headers.update(headers)
        yield request


class PortalError(Exception):
    """The portal refused a request or could not be reached; the message says which.

    `status` is the portal's HTTP status, or None when it could not be reached."""

    def __init__(
        self, message: str, status: int | None = None, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        #: The portal's JSON answer (`error`, `message`, and for 409 `thread_moved_on`
        #: the chain's `head`), or {}.
        self.body = body or {}

    @property
    def code(self) -> str:
        return str(self.body.get("error", ""))

    @property
    def refused_this_request(self) -> bool:
        """The portal answered and refused this request for what it holds (400, 409,
        422: an unknown case, say), so other requests may still go; anything else (not
        reachable, 401, 5xx) would refuse them all alike."""
        return self.status in (400, 409, 422)


class PortalClient:
    def __init__(self, url: str, key: crypto.SigningKey, clock: Callable[[], float]) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url, auth=SignedAuth(key, clock), timeout=httpx.Timeout(60, connect=10)
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _json(self, response: httpx.Response, *ok: int) -> Any:
        if response.status_code not in ok:
            body: dict[str, Any] = {}
            try:
                answer = response.json()
                body = answer if isinstance(answer, dict) else {}
                message = body.get("message", response.text[:200])
            except ValueError:
                message = response.text[:200]
            raise PortalError(
                f"the portal answered {response.status_code}: {message}",
                response.status_code,
                body,
            )
        return response.json()

    def _call(self, method: str, path: str, *ok: int, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise PortalError(f"cannot reach the portal at {self.url}: {exc}") from None
        return self._json(response, *ok)

    def outbox(self, limit: int = 50, after: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        page: dict[str, Any] = self._call("GET", "/api/v1/console/outbox", 200, params=params)
        return page

    def ack(self, cursor: str) -> int:
        return int(self._call("POST", "/api/v1/console/ack", 200, json={"cursor": cursor})["acked"])

    def config(self) -> dict[str, Any]:
        """The portal's public configuration: the oversight keys it serves (§19.1)."""
        answer: dict[str, Any] = self._call("GET", "/api/v1/config", 200)
        return answer

    def item(self, body: dict[str, Any]) -> str:
        """Send a signed reply, status change or outcome notice (docs/protocol.md §19.3)."""
        return str(self._call("POST", "/api/v1/console/items", 201, json=body)["id"])

    def blob(self, blob_id: str) -> Iterator[bytes]:
        """The stored blob, streamed in pieces; raises `PortalError` if unavailable."""
        try:
            with self.http.stream("GET", f"/api/v1/console/blobs/{blob_id}") as response:
                if response.status_code != 200:
                    response.read()
                    self._json(response, 200)
                yield from response.iter_bytes(65536)
        except httpx.TransportError as exc:
            raise PortalError(f"the download of {blob_id} broke off: {exc}") from None
