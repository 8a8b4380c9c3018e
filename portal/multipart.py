"""Streaming multipart/form-data for the HTML forms: files are encrypted as they arrive.

Starlette's own form parser spools large files to temporary files on disk, which the
portal must never do with plaintext. Here each file part goes straight through a
`crypto.BlobWriter` into a `PendingBlob`: the only bytes that reach the disk are
ciphertext, and memory holds at most one 64 KiB chunk per file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

import crypto

from .blobstore import BlobStore, PendingBlob
from .bodies import refuse_if_declared_over
from .errors import BadRequest, TooLarge
from .i18n import N_

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
#: As many files as the JSON API lets one submission reference. Each file part holds an
#: open file while the form streams and takes at least one padded 64 KiB chunk on disk,
#: so a form of a thousand one-byte files must not be read any further.
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


class _Collector:
    def __init__(
        self, blobs: BlobStore, text_limit: int, fields_limit: int, file_field: str
    ) -> None:
        self.form = ParsedForm()
        self._blobs = blobs
        self._text_left = text_limit
        self._fields_left = fields_limit
        self._file_field = file_field
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._file: UploadedFile | None = None
        self._skip = False
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

    def _part_begin(self) -> None:
        self._headers = {}
        self._field_name, self._file, self._skip = None, None, False
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
            if name != self._file_field or filename == b"":
                self._skip = True  # an empty file input, or a file where none belongs
                return
            if len(self.form.files) >= MAX_FILES:
                raise TooLarge(f"One submission can carry at most {MAX_FILES} files.")
            mime, _ = parse_options_header(self._headers.get("content-type", ""))
            key = crypto.new_blob_key()
            writer = crypto.BlobWriter(key)
            pending = self._blobs.start()
            pending.write(writer.header)
            self._file = UploadedFile(
                name=clean_filename(filename.decode("utf-8", "replace")),
                mime=mime.decode("latin-1")[:100] or "application/octet-stream",
                key=key,
                writer=writer,
                pending=pending,
            )
            self.form.files.append(self._file)
            return
        self._fields_left -= 1
        if self._fields_left < 0:
            raise TooLarge("This form has more fields than any Lanthorn form sends.")
        self._field_name = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._skip:
            return
        if self._file is not None:
            self._file.pending.write(self._file.writer.write(data[start:end]))
            return
        self._field_value.extend(data[start:end])
        self._text_left -= end - start
        if self._text_left < 0:
            raise TooLarge(TOO_MUCH_TEXT)

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.pending.write(self._file.writer.finish())
        elif self._field_name is not None and not self._skip:
            try:
                value = self._field_value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("The form was not sent as UTF-8 text.") from None
            self.form.fields[self._field_name] = value.replace("\r\n", "\n")

    def _end(self) -> None:
        self.ended = True


async def parse_form(
    request: Request,
    blobs: BlobStore,
    *,
    total_limit: int,
    text_limit: int = MAX_TEXT_BYTES,
    file_field: str = "attachments",
    before_files: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> ParsedForm:
    """Parse a multipart form as it streams in, encrypting files into pending blobs.

    `before_files(fields)` is awaited once with the text fields read so far, as soon as
    the first file part begins (at most one chunk of it has been encrypted by then) or at
    the end of a form without one. Browsers send the fields in the page's order, which
    puts the file input last, so a check there (has this form been sent before?) runs
    before the files are stored; if it raises, they are deleted.

    On any error every pending blob is deleted and the error propagates (413 while
    streaming, 400 for a malformed body). The caller commits the files it keeps.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadRequest("This form must be sent as multipart/form-data.")
    refuse_if_declared_over(request, total_limit, "This submission")
    collector = _Collector(blobs, text_limit, MAX_FIELDS, file_field)
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > total_limit:
                raise TooLarge(
                    f"This submission is larger than this portal accepts ({total_limit} bytes)."
                )
            parser.write(chunk)
            if before_files is not None and (collector.files_begun or collector.ended):
                hook, before_files = before_files, None
                await hook(dict(collector.form.fields))
        if not collector.ended:
            raise BadRequest("The form arrived incomplete. Please send it again.")
    except FormParserError:
        collector.form.abort()
        raise BadRequest("The form could not be read. Please send it again.") from None
    except BaseException:
        collector.form.abort()
        raise
    return collector.form
