"""portal/multipart.py on its own, with Hypothesis: the streaming parser that encrypts
file parts as they arrive. Any body, cut into any chunks, either parses or is a 400/413
(never another exception), and leaves no half-written file behind; a well-formed body
parses to exactly what was sent, however it is chunked; file names come out as a bare,
printable name of at most 200 characters."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

import crypto
from foundation.blobstore import BlobStore
from foundation.errors import WebError
from portal.multipart import MAX_FILES, ParsedForm, parse_form
from tests.conftest import run_coroutine

from .forms import multipart
from .strategies import FILE_NAMES, broken_multipart, chunked, file_names

LIMIT = 4 * 1024 * 1024


def request_for(chunks: list[bytes], content_type: str, length: int | None = None) -> Request:
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    queue = list(chunks)

    async def receive() -> Message:
        body = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    return Request(scope, receive)


def parse(root: Path, chunks: list[bytes], content_type: str, **kwargs: int) -> ParsedForm:
    return run_coroutine(
        parse_form(request_for(chunks, content_type), BlobStore(root), total_limit=LIMIT, **kwargs)
    )


def breaks_header(name: str) -> bool:
    """Only a NUL, a quote or a line break, or a header line longer than the parser
    takes (4 KiB), makes a file part unreadable (400)."""
    return bool(set(name) & set('\x00"\r\n')) or len(name.encode()) > 4000


cuts = st.lists(st.integers(min_value=0, max_value=10**6), max_size=8)


@settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
@given(body=st.one_of(broken_multipart(), st.tuples(st.binary(max_size=500), st.just(
    "multipart/form-data; boundary=b0undary"))), cuts=cuts)  # fmt: skip
def test_any_body_parses_or_is_a_4xx_and_leaves_nothing(
    body: tuple[bytes, str], cuts: list[int]
) -> None:
    content, content_type = body
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            form = parse(root, chunked(content, cuts), content_type)
        except WebError as exc:
            refused = exc.status
        else:
            refused = 0
        if refused:
            assert refused in (400, 413)
            assert list(root.iterdir()) == []
            return
        assert len(list(root.iterdir())) == len(form.files) <= MAX_FILES
        for upload in form.files:
            assert "/" not in upload.name
            assert "\\" not in upload.name
            assert upload.name.isprintable()
            assert 0 < len(upload.name) <= 200
        form.abort()
        assert list(root.iterdir()) == []


field_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda n: n != "attachments"
)


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(
    fields=st.dictionaries(field_names, st.text(max_size=300), max_size=6),
    files=st.lists(st.tuples(st.sampled_from(FILE_NAMES[:12]), st.binary(max_size=70_000)),
                   max_size=3),
    cuts=cuts,
)  # fmt: skip
def test_a_well_formed_form_parses_to_what_was_sent_however_chunked(
    fields: dict[str, str], files: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    pairs = [(name, value.encode()) for name, value in fields.items()]
    uploads = [("attachments", name, data, "application/octet-stream") for name, data in files]
    body, content_type = multipart(pairs, uploads)
    sent = [(name, data) for name, data in files if name]  # an empty name: no file chosen
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            form = parse(root, chunked(body, cuts), content_type)
        except WebError:
            assert any(breaks_header(name) for name, _ in files)
            assert list(root.iterdir()) == []
            return
        assert form.fields == {k: v.replace("\r\n", "\n") for k, v in fields.items()}
        assert len(form.files) == len(sent)
        for upload, (_, data) in zip(form.files, sent, strict=True):
            assert upload.pending._file.closed  # at the end of its part: one open at a time
            stored = upload.pending._temp.read_bytes()
            out = io.BytesIO()
            summary = crypto.decrypt_file(io.BytesIO(stored), out, upload.key)
            assert out.getvalue() == data
            assert upload.descriptor()["sha256"] == summary.sha256
            assert data not in stored or len(data) < 16  # ciphertext only on disk
        form.abort()


@pytest.mark.parametrize("name", FILE_NAMES)
def test_file_names_are_bare_printable_and_short(name: str) -> None:
    body, content_type = multipart([], [("attachments", name, b"x", "text/plain")])
    with tempfile.TemporaryDirectory() as tmp:
        try:
            form = parse(Path(tmp), [body], content_type)
        except WebError:
            assert breaks_header(name)
            return
        try:
            if name == "":
                assert form.files == []
                return
            [upload] = form.files
            assert upload.name.isprintable()
            assert 0 < len(upload.name) <= 200
            assert "/" not in upload.name
            assert "\\" not in upload.name
            assert "\u202e" not in upload.name
            assert "\x00" not in upload.name
            assert upload.name.strip(". "), "a name of dots would name a directory"
        finally:
            form.abort()  # a failed check must not leave the upload's file open


@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
@given(name=file_names)
def test_any_file_name_parses_or_is_refused(name: str) -> None:
    test_file_names_are_bare_printable_and_short(name)
