"""The staff report page in headless Chromium, and the JavaScript bench/browser.py runs in it.

The page is the portal's own: it loads libsodium.js and lanthorn-protocol.js with SRI under
BROWSER_CRYPTO_CSP, as every reporter's browser does. What the benchmark evaluates there is
below; each body runs with `P` = `window.LanthornProtocol` (ready) and `arg`, and times
itself with `performance.now()`, so the DevTools round trip that carries it is not counted.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from _report import MIB
from _streams import POOL, PatternFile, pattern_block
from playwright.sync_api import Page, sync_playwright

import crypto
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # launched as the tests launch it

PAGE = "/report/staff"

# `benchFile(bytes)` is the File chosen in the form's file input, which must have that size;
# `benchMemoryFile(bytes)` a File of the same bytes made in the page's memory (the 1 MiB
# pattern, repeated); `benchChunks(bytes)` yields 64 KiB views of the pattern in place
# (`subarray`), as a raw loop over memory would.
_HELPERS = """
globalThis.benchPattern = P.fromB64u(arg);
globalThis.benchFile = (bytes) => {
  const file = document.getElementById("attachments").files[0];
  if (!file || file.size !== bytes) throw new Error("choose a file of " + bytes + " bytes");
  return file;
};
globalThis.benchMemoryFile = (bytes) => new File(
  Array(bytes / benchPattern.length).fill(benchPattern), "evidence.bin",
  {type: "application/octet-stream"});
globalThis.benchChunks = function* (bytes) {
  for (let done = 0; done < bytes; done += 65536) {
    const at = done % benchPattern.length;
    yield benchPattern.subarray(at, at + 65536);
  }
};
"""

#: `arg.runs` derivations with fresh receipts at `arg.config`'s cost: their times in ms,
#: and the size of libsodium.js's WebAssembly memory before and after.
DERIVE = """
const heap = () => globalThis.libsodium && libsodium.HEAPU8 ? libsodium.HEAPU8.length : null;
const before = heap(), times = [];
for (let i = 0; i < arg.runs; i++) {
  const start = performance.now();
  const keys = await P.deriveKeys(P.newReceipt(), arg.config);
  times.push(performance.now() - start);
  sodium.memzero(keys.boxSecretKey); sodium.memzero(keys.signSecretKey);
}
return {ms: times, heapBefore: before, heapAfter: heap()};
"""

#: libsodium.js alone over `arg.bytes` in 64 KiB chunks: secretstream push (`arg.push`,
#: then the padded final chunk, as v1 blobs end), SHA-256 (`arg.hash`), or both; ms.
RAW = """
const s = sodium, T = s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const key = s.crypto_secretstream_xchacha20poly1305_keygen();
const start = performance.now();
const stream = arg.push ? s.crypto_secretstream_xchacha20poly1305_init_push(key) : null;
const hash = arg.hash ? s.crypto_hash_sha256_init() : null;
for (const chunk of benchChunks(arg.bytes)) {
  if (hash) s.crypto_hash_sha256_update(hash, chunk);
  if (stream) s.crypto_secretstream_xchacha20poly1305_push(stream.state, chunk, null, T);
}
if (hash) s.crypto_hash_sha256_final(hash);
if (stream) s.crypto_secretstream_xchacha20poly1305_push(stream.state,
  s.pad(new Uint8Array(0), 65536), null, s.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
return performance.now() - start;
"""

#: Reading the chosen File of `arg.bytes` and nothing else: 64 KiB `slice().arrayBuffer()`
#: calls as encryptBlob reads, or (`arg.stream`) the File's own stream; ms.
READ = """
const file = benchFile(arg.bytes);
const start = performance.now();
if (arg.stream) {
  const reader = file.stream().getReader();
  while (!(await reader.read()).done) {}
} else {
  for (let done = 0; done < arg.bytes; done += 65536) {
    await file.slice(done, done + 65536).arrayBuffer();
  }
}
return performance.now() - start;
"""

#: encryptBlob on the chosen File of `arg.bytes` (or, with `arg.memory`, one in memory):
#: ms, and what a check needs. The stored Blob's last chunk is read back afterwards: the
#: browser can hand out a Blob it cannot read (net::ERR_BLOB_REFERENCED_BLOB_BROKEN) when
#: its blob memory runs out, and only reading it shows that.
ENCRYPT = """
const file = arg.memory ? benchMemoryFile(arg.bytes) : benchFile(arg.bytes);
const start = performance.now();
const blob = await P.encryptBlob(file);
const ms = performance.now() - start;
let readable = true;
try {
  await blob.stored.slice(blob.stored.size - 65553).arrayBuffer();
} catch (e) {
  readable = false;
}
return {ms: ms, sha256: blob.sha256, stored: blob.stored.size, readable: readable};
"""

#: submitReport with the chosen File of `arg.bytes`, as report.js calls it, with the
#: portal's config (its `kdf` replaced by `arg.kdf` if given): ms from the call to the
#: start of each onProgress stage, and to the end ("done"). Encryption starts at once
#: (its first progress call comes one chunk in).
SUBMIT = """
const config = Object.assign({}, await P.fetchConfig(), arg.kdf ? {kdf: arg.kdf} : {});
const file = benchFile(arg.bytes);
const marks = {encrypting: 0};
const start = performance.now();
const sent = await P.submitReport({config: config, fields: arg.fields, files: [file],
  onProgress: (done, total, stage) => {
    if (!(stage in marks)) marks[stage] = performance.now() - start;
  }});
marks.done = performance.now() - start;
return {marks: marks, case: sent.case};
"""


class Reporter:
    """The staff report page, with the benchmark's 1 MiB pattern and helpers loaded.

    The pattern is bench/portal.py's, so this process knows the SHA-256 of every File made
    from it. Page errors, and console errors and warnings (a CSP violation is one), are
    collected in `problems`.
    """

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", self._console)
        page.goto(url + PAGE)
        self.run(_HELPERS, crypto.b64u_encode(pattern_block(POOL)))

    def choose(self, path: Path) -> None:
        """Choose `path` in the form's file input, as a reporter picks an attachment."""
        self.page.set_input_files("#attachments", path)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(message.text)

    def run(self, body: str, arg: Any = None) -> Any:
        """Evaluate an async function body in the page; return what it returns."""
        script = f"async (arg) => {{ const P = window.LanthornProtocol; await P.ready; {body} }}"
        return self.page.evaluate(script, arg)


@contextlib.contextmanager
def plaintext_files(sizes: Iterable[int]) -> Iterator[dict[int, Path]]:
    """Temporary files of each size repeating the 1 MiB pattern (`PatternFile`), deleted after."""
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-browser-") as tmp:
        paths = {}
        for size in sizes:
            paths[size] = Path(tmp) / f"evidence-{size // MIB}MiB.bin"
            source = PatternFile(size)
            with open(paths[size], "wb") as out:
                while block := source.read():
                    out.write(block)
        yield paths


@contextlib.contextmanager
def reporter_page(url: str) -> Iterator[tuple[Reporter, str]]:
    """Headless Chromium on the portal at `url`: the page, and the browser's version."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            # The cheap rows pass a weaker KDF than lanthorn-protocol.js accepts from a
            # portal (docs/protocol.md §19.5): the benchmark, a test client, lowers the
            # floor for itself, as the test suite's browsers do.
            context.add_init_script("globalThis.LanthornTestKdfFloor = {t: 1, m_kib: 8};")
            yield Reporter(context.new_page(), url), browser.version
        finally:
            browser.close()
