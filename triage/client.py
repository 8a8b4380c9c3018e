"""The console's side of the sync API: signed requests to the portal (protocol v1 §2.5).

The console only ever connects *out* to the portal; the portal never connects in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

import crypto


class SignedAuth(httpx.Auth):
    """Signs each request over its method, exact target, body, a timestamp and a nonce."""

    requires_request_body = True

    def __init__(
        self, key: crypto.SigningKey, clock: Callable[[], float], key_id: bytes | None = None
    ) -> None:
        self.key, self.clock, self.key_id = key, clock, key_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            crypto.sign_request(
                self.key,
                request.method,
                request.url.raw_path.decode("ascii"),
                request.content,
                timestamp=int(self.clock()),
                key_id=self.key_id,
            )
        )
        yield request


class PortalError(Exception):
    """The portal refused a request or could not be reached; the message says which.

    `status` is the portal's HTTP status, or None when it could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

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
            try:
                message = response.json().get("message", response.text[:200])
            except ValueError:
                message = response.text[:200]
            raise PortalError(
                f"the portal answered {response.status_code}: {message}", response.status_code
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

    def reply(self, body: dict[str, Any]) -> str:
        return str(self._call("POST", "/api/v1/console/replies", 201, json=body)["id"])

    def status(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/api/v1/console/status", 200, json=body)
        return result

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
