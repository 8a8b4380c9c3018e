"""Streaming multipart/form-data for the HTML forms: files are encrypted as they arrive.

Starlette's own form parser spools large files to temporary files on disk, which the
portal must never do with plaintext. Here each file part goes straight through a
`crypto.BlobWriter` into a `PendingBlob`: the only bytes that reach the disk are
ciphertext, memory holds at most one 64 KiB chunk of the one file being written, and a
form holds at most one open file at a time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

import crypto
from foundation.blobstore import BlobStore, PendingBlob
from foundation.bodies import receive_body, refuse_if_declared_over
from foundation.errors import BadRequest, TooLarge
from foundation.languages import N_

from .upload_budget import UploadsPaused

MAX_FIELDS = 50
#: All the text fields of one form together. Far above what any report can hold (a
#: sealed document carries at most 1 MiB), so that text over a form's own limits comes
#: back to the reporter in the form, to shorten, instead of being refused unread; the
#: most one request holds in memory.
MAX_TEXT_BYTES = 1536 * 1024
TOO_MUCH_TEXT = N_(
    "This form has far more text than the portal can take. Go back, make it shorter, "
    "or put long text in a file and attach it."
)
#: As many files as the JSON API lets one submission reference. Each file part takes at
#: least one padded 64 KiB chunk on disk, so a form of a thousand one-byte files must not
#: be read any further.
MAX_FILES = 100


@dataclass
class UploadedFile:
    """A file part, encrypted; `descriptor()` is its v1 blob descriptor once finished."""

    name: str
    mime: str
    key: bytes
    writer: crypto.BlobWriter
    pending: PendingBlob
    blob_id: str = ""

    def descriptor(self) -> dict[str, object]:
        summary = self.writer.summary
        return {
            "blob_id": self.blob_id or self.pending.blob_id,
            "name": self.name,
            "mime": self.mime,
            "size": summary.size,
            "key": crypto.b64u_encode(self.key),
            "sha256": summary.sha256,
        }


@dataclass
class ParsedForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    #: The names of the files the upload budget did not take (`allowance`): none of the
    #: form's files was kept, and the form is to be shown again with its text.
    refused: list[str] = field(default_factory=list)

    def abort(self) -> None:
        """Delete every file of this form that has not been committed."""
        for upload in self.files:
            upload.pending.abort()


#: The longest file name kept, in characters.
MAX_NAME = 200
#: A shortened name keeps the ending after its last dot when that is shorter than this:
#: "….pdf", "….jpeg", "….docx" still open as what they are.
MAX_EXTENSION = 16


def clean_filename(raw: str) -> str:
    """The file name kept for an attachment; lanthorn-protocol.js's cleanFilename keeps
    the same for a file sealed in the browser."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]  # some browsers send a full path
    name = "".join(ch for ch in name if ch.isprintable())
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        ending = dot + extension if stem and 0 < len(extension) < MAX_EXTENSION else ""
        name = name[: MAX_NAME - len(ending)] + ending
    # "." and ".." name a directory, not a file, wherever the name is later used as a path.
    return name if name.strip(". ") else "attachment"


@dataclass(frozen=True)
class _FileBegins:
    name: str
    mime: str
    fields: dict[str, str]


_FILE_ENDS = object()


class _Collector:
    """The parser's callbacks: text fields are kept as they arrive; a file part becomes
    events (`_FileBegins`, its data, `_FILE_ENDS`) that `parse_form` handles once the
    parser has returned, where it can wait (for the database, say) before it opens a file.
    The events hold at most what one `write` was given."""

    def __init__(
        self,
        text_limit: int,
        fields_limit: int,
        file_field: str,
        check_fields: Callable[[dict[str, str]], None] | None,
        hold_text: Callable[[int], None] | None,
    ) -> None:
        self.form = ParsedForm()
        self.events: list[object] = []
        self._text_left = text_limit
        self._fields_left = fields_limit
        self._file_field = file_field
        self._check = check_fields
        self._hold_text = hold_text
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._in_file = False
        self._skip = False
        self._files = 0
        self.files_begun = False
        self.ended = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _checked(self) -> None:
        """Run `check_fields` on the fields so far, once: before any file is opened."""
        if self._check is not None:
            check, self._check = self._check, None
            check(dict(self.form.fields))

    def _part_begin(self) -> None:
        self._headers = {}
        self._field_name, self._in_file, self._skip = None, False, False
        self._field_value = bytearray()

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None:
            self.files_begun = True
            self._checked()
            if name != self._file_field or filename == b"":
                self._skip = True  # an empty file input, or a file where none belongs
                return
            self._files += 1
            if self._files > MAX_FILES:
                raise TooLarge(f"One submission can carry at most {MAX_FILES} files.")
            mime, _ = parse_options_header(self._headers.get("content-type", ""))
            self.events.append(
                _FileBegins(
                    name=clean_filename(filename.decode("utf-8", "replace")),
                    mime=mime.decode("latin-1")[:100] or "application/octet-stream",
                    fields=dict(self.form.fields),
                )
            )
            self._in_file = True
            return
        self._fields_left -= 1
        if self._fields_left < 0:
            raise TooLarge("This form has more fields than any Lanthorn form sends.")
        self._field_name = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._skip:
            return
        if self._in_file:
            self.events.append(data[start:end])
            return
        self._text_left -= end - start
        if self._text_left < 0:
            raise TooLarge(TOO_MUCH_TEXT)
        if self._hold_text is not None:
            self._hold_text(end - start)
        self._field_value.extend(data[start:end])

    def _part_end(self) -> None:
        if self._in_file:
            self.events.append(_FILE_ENDS)
        elif self._field_name is not None and not self._skip:
            try:
                value = self._field_value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("The form was not sent as UTF-8 text.") from None
            self.form.fields[self._field_name] = value.replace("\r\n", "\n")

    def _end(self) -> None:
        self._checked()
        self.ended = True


class _Files:
    """Turns the collector's file events into encrypted pending blobs, one open at a time.

    The first file waits for `before_files` and for the upload budget's `allowance`;
    when the budget refuses, or the form's files pass it, every file of the form is
    deleted and the rest are skipped: their names go to `form.refused`.
    """

    def __init__(
        self,
        form: ParsedForm,
        blobs: BlobStore,
        before_files: Callable[[dict[str, str]], Awaitable[None]] | None,
        allowance: Callable[[], Awaitable[int]] | None,
    ) -> None:
        self._form = form
        self._blobs = blobs
        self.before_files = before_files
        self._allowance_of = allowance
        self._allowance: int | None = None
        self._stored = 0
        self._current: UploadedFile | None = None
        self._refusing = False

    async def first(self, fields: dict[str, str]) -> None:
        """Await `before_files` once, with the fields that came before the files."""
        if self.before_files is not None:
            hook, self.before_files = self.before_files, None
            await hook(fields)

    async def handle(self, events: list[object]) -> None:
        for event in events:
            current = self._current
            if isinstance(event, _FileBegins):
                await self._begin(event)
            elif isinstance(event, bytes):
                if current is not None:
                    self._write(current, current.writer.write(event))
            elif current is not None:  # _FILE_ENDS
                self._write(current, current.writer.finish())
                current.pending.close()  # reopened to be made durable (or already deleted)
                self._current = None

    async def _begin(self, event: _FileBegins) -> None:
        await self.first(event.fields)
        if not self._refusing and self._allowance is None and self._allowance_of is not None:
            try:
                self._allowance = await self._allowance_of()
            except UploadsPaused:
                self._refuse()
        if self._refusing:
            self._form.refused.append(event.name)
            return
        key = crypto.new_blob_key()
        writer = crypto.BlobWriter(key)
        pending = self._blobs.start()
        self._current = UploadedFile(event.name, event.mime, key, writer, pending)
        self._form.files.append(self._current)
        self._write(self._current, writer.header)

    def _write(self, upload: UploadedFile, data: bytes) -> None:
        if self._refusing:
            return
        self._stored += len(data)
        if self._allowance is not None and self._stored > self._allowance:
            self._refuse()
            return
        upload.pending.write(data)

    def _refuse(self) -> None:
        """The budget takes no more: keep no file of this form, and skip the rest."""
        self._refusing = True
        self._form.refused.extend(upload.name for upload in self._form.files)
        self._form.abort()
        self._form.files.clear()
        self._current = None


#: How often a form that is still streaming marks its finished files as in use: well within
#: the hour after which the purge removes a temporary file nobody wrote to.
TOUCH_SECONDS = 600


async def parse_form(
    request: Request,
    blobs: BlobStore,
    *,
    total_limit: int,
    text_limit: int = MAX_TEXT_BYTES,
    file_field: str = "attachments",
    check_fields: Callable[[dict[str, str]], None] | None = None,
    before_files: Callable[[dict[str, str]], Awaitable[None]] | None = None,
    allowance: Callable[[], Awaitable[int]] | None = None,
    hold_text: Callable[[int], None] | None = None,
) -> ParsedForm:
    """Parse a multipart form as it streams in, encrypting files into pending blobs.

    Nothing of a file is stored before these, in this order, with the text fields read so
    far (browsers send the fields in the page's order, which puts the file input last):

    - `check_fields(fields)`, synchronous, as soon as the first file part's headers have
      been read (or at the end of a form without one): the CSRF token. If it raises, no
      file was opened;
    - `before_files(fields)`, awaited once before the first file is opened (or at the end
      of a form without one): has this form been sent before?
    - `allowance()`, awaited before the first file is opened: how many bytes the upload
      budget lets this form's files take. If it raises `UploadsPaused`, or the files pass
      it, no file of the form is kept and their names are in `refused`; the text fields
      are read on.

    A file part's file is closed when the part ends (`PendingBlob.commit` reopens it), so
    a form holds at most one open file at a time. `hold_text(n)` is called for each `n`
    bytes of text kept in memory. The body is read by `foundation.bodies.receive_body`: one
    that stalls or trickles is cut off (408).

    On any error every pending blob is deleted and the error propagates (413 while
    streaming, 400 for a malformed body). The caller commits the files it keeps.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadRequest("This form must be sent as multipart/form-data.")
    refuse_if_declared_over(request, total_limit, "This submission")
    collector = _Collector(text_limit, MAX_FIELDS, file_field, check_fields, hold_text)
    files = _Files(collector.form, blobs, before_files, allowance)
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
        received = 0
        touched = time.monotonic()
        async for chunk in receive_body(request):
            received += len(chunk)
            if time.monotonic() - touched > TOUCH_SECONDS:  # a long upload of many files
                touched = time.monotonic()
                for upload in collector.form.files:
                    upload.pending.touch()
            if received > total_limit:
                raise TooLarge(
                    f"This submission is larger than this portal accepts ({total_limit} bytes)."
                )
            parser.write(chunk)
            events, collector.events = collector.events, []
            await files.handle(events)
            if collector.files_begun or collector.ended:
                await files.first(dict(collector.form.fields))
        if not collector.ended:
            raise BadRequest("The form arrived incomplete. Please send it again.")
    except FormParserError:
        collector.form.abort()
        raise BadRequest("The form could not be read. Please send it again.") from None
    except BaseException:
        collector.form.abort()
        raise
    return collector.form
