"""Protocol v1 in a real browser: lanthorn-protocol.js over the vendored libsodium.js.

Headless Chromium loads the scripts the way a portal page will: same-origin <script> tags
with SRI hashes, under `BROWSER_CRYPTO_CSP`, behind the portal's security headers. The
browser must agree with `crypto/` byte for byte (the v1 vectors), interoperate with it in
both directions, refuse what `crypto/` refuses, and report end to end through a real portal.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import nacl.bindings
import nacl.public
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute
from starlette.staticfiles import StaticFiles

import crypto
from crypto.kdf import SIGN_LABEL, subkey
from foundation.headers import SECURITY_HEADERS, SecurityHeadersMiddleware
from portal.multipart import clean_filename
from portal.security import BROWSER_CRYPTO_CSP
from portal.sri import STATIC, sri
from tests.attacks.strategies import FILE_NAMES
from tests.conftest import CHEAP_KDF, VECTORS, needs_chromium
from tests.serving import serving

from .conftest import Portal
from .forms import REPORT_FIELDS
from .forms import submit_report as submit_form_report

pytestmark = needs_chromium

SCRIPTS = (
    "vendor/libsodium/libsodium-sumo.js",
    "vendor/libsodium/libsodium-wrappers.js",
    "lanthorn-protocol.js",
)
PAGE = "/_test/protocol"
b64u = crypto.b64u_encode


def script_tags(integrity: dict[str, str] | None = None) -> str:
    hashes = {path: sri(path) for path in SCRIPTS} | (integrity or {})
    return "\n".join(
        f'<script src="/static/{path}" integrity="{hashes[path]}" defer></script>'
        for path in SCRIPTS
    )


def html_page(integrity: dict[str, str] | None = None) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>protocol test</title>\n{script_tags(integrity)}\n</head><body></body></html>"
    )


def page_route(csp: str, integrity: dict[str, str] | None = None) -> StarletteRoute:
    async def endpoint(request: Request) -> HTMLResponse:
        # SecurityHeadersMiddleware keeps a page's own CSP, as the portal's pages will.
        return HTMLResponse(html_page(integrity), headers={"Content-Security-Policy": csp})

    return StarletteRoute(request_path(csp, integrity), endpoint)


def request_path(csp: str, integrity: dict[str, str] | None) -> str:
    if integrity:
        return "/_test/wrong-integrity"
    return PAGE if csp == BROWSER_CRYPTO_CSP else "/_test/no-wasm"


NO_WASM_CSP = (
    SECURITY_HEADERS["Content-Security-Policy"] + "; script-src 'self'; connect-src 'self'"
)
WRONG = {"lanthorn-protocol.js": sri("vendor/libsodium/libsodium-wrappers.js")}


class Js:
    """A page with LanthornProtocol loaded; `run` evaluates an async body with `P` and `arg`."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        # An HTTP error answer is logged as "Failed to load resource"; tests expect some.
        page.on(
            "console",
            lambda message: (
                self.problems.append(message.text)
                if message.type in ("error", "warning")
                and not message.text.startswith("Failed to load resource")
                else None
            ),
        )

    def run(self, body: str, arg: Any = None) -> Any:
        result = self.page.evaluate(
            f"async (arg) => {{ const P = window.LanthornProtocol; await P.ready; {body} }}", arg
        )
        assert self.problems == []  # a CSP violation or a script error shows up here
        return result

    def error(self, body: str, arg: Any = None) -> dict[str, Any]:
        """Run `body`, which must throw; return the error's code, message and status."""
        result: dict[str, Any] = self.run(
            f"try {{ {body} }} catch (e) {{ return {{code: e.code, message: e.message, "
            "status: e.status}; } return {code: 'did not throw'};",
            arg,
        )
        return result


def open_js(browser: Browser, url: str) -> tuple[Js, BrowserContext]:
    context = browser.new_context()
    js = Js(context.new_page())
    js.page.goto(url + PAGE)
    return js, context


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The static files and test pages behind the portal's security headers, no database."""
    app = Starlette(
        routes=[
            page_route(BROWSER_CRYPTO_CSP),
            page_route(NO_WASM_CSP),
            page_route(BROWSER_CRYPTO_CSP, WRONG),
            Mount("/static", StaticFiles(directory=STATIC)),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def js(browser: Browser, site: str) -> Iterator[Js]:
    page, context = open_js(browser, site)
    yield page
    context.close()


@pytest.fixture(scope="module")
def oversight() -> crypto.PrivateKey:
    return crypto.PrivateKey.generate()


def fake_config(oversight: crypto.PrivateKey, **limits: int) -> dict[str, Any]:
    """What GET /api/v1/config says, with cheap Argon2id, for tests without a portal."""
    return {
        "protocol": 2,
        "oversight_public_key": b64u(bytes(oversight.public_key)),
        "oversight_sign_key": b64u(bytes(crypto.SigningKey(bytes(oversight)).verify_key)),
        "receipt_salt": b64u(bytes(range(16))),
        "kdf": CHEAP_KDF.as_json(),
        "limits": {"document_bytes": crypto.MAX_SEALED_BYTES, **limits},
    }


# ---- receipts (§2.1) ----


def test_damm_vectors(js: Js, vectors: dict[str, Any]) -> None:
    got = js.run(
        "return arg.map(d => P.dammCheckDigit(d));", [v["digits19"] for v in vectors["damm"]]
    )
    assert got == [v["check"] for v in vectors["damm"]]


def test_receipt_vectors(js: Js, vectors: dict[str, Any]) -> None:
    cases = vectors["receipt_valid"]
    got = js.run(
        "return arg.map(t => [P.normaliseReceipt(t), P.groups(t).join('')]);",
        [c["input"] for c in cases],
    )
    for case, (result, digits) in zip(cases, got, strict=True):
        assert digits == case["normalized"]
        assert result["ok"] is case["valid"]
        if case["valid"]:
            assert result["digits"] == case["normalized"]
        else:
            with pytest.raises(crypto.InvalidReceipt) as python:
                crypto.validate_receipt(case["input"])
            assert result["problem"] == python.value.reason
            assert result["count"] == len(case["normalized"])


def test_every_unicode_decimal_digit_reads_as_python_reads_it(js: Js) -> None:
    digits = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Nd"]
    got = js.run("return arg.map(ch => P.groups(ch).join(''));", digits)
    assert got == [str(unicodedata.decimal(ch)) for ch in digits]


def test_new_receipts_are_valid_and_use_every_digit_everywhere(js: Js) -> None:
    receipts = js.run("return Array.from({length: 300}, () => P.newReceipt());")
    assert len(set(receipts)) == len(receipts)
    for receipt in receipts:
        assert crypto.validate_receipt(receipt) == receipt
    for position in range(19):  # a digit missing here by chance: p < 1e-12
        assert {r[position] for r in receipts} == set("0123456789")


def test_groups_of_four(js: Js) -> None:
    got = js.run("return P.groups('4721-0938 5562 1187 3305');")
    assert got == ["4721", "0938", "5562", "1187", "3305"]


# ---- reporter keys (§2.2) ----


@pytest.mark.parametrize("index", [0, 1, 2], ids=["production-params", "cheap-1", "cheap-2"])
def test_kdf_vectors(js: Js, vectors: dict[str, Any], index: int) -> None:
    v = vectors["kdf"][index]
    config = {
        "protocol": 1,
        "receipt_salt": v["salt"],
        "kdf": {"alg": "argon2id13", "t": v["t"], "m_kib": v["m_kib"], "p": v["p"]},
    }
    got = js.run(
        """const k = await P.deriveKeys(arg.receipt, arg.config);
        const out = {}; for (const [name, value] of Object.entries(k)) out[name] = P.b64u(value);
        return out;""",
        {"receipt": v["receipt"], "config": config},
    )
    assert got["lookupId"] == v["lookup_id"]
    assert got["boxSecretKey"] == v["box_sk"]
    assert got["boxPublicKey"] == v["box_pk"]
    assert got["signPublicKey"] == v["sign_pk"]
    seed = subkey(crypto.b64u_decode(v["master"]), SIGN_LABEL)
    assert crypto.b64u_decode(got["signSecretKey"]) == seed + crypto.b64u_decode(v["sign_pk"])


@pytest.mark.parametrize(
    ("receipt", "kdf", "code"),
    [
        ("1234567890123456789", {}, "bad_receipt"),
        ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠", {}, "bad_receipt"),
        ("12345678901234567890", {"alg": "argon2i13"}, "weak_kdf"),
        ("12345678901234567890", {"p": 2}, "weak_kdf"),
        ("12345678901234567890", {"m_kib": 4}, "weak_kdf"),
    ],
)
def test_kdf_refuses(js: Js, receipt: str, kdf: dict[str, Any], code: str) -> None:
    config = {"protocol": 1, "receipt_salt": b64u(bytes(16)), "kdf": CHEAP_KDF.as_json() | kdf}
    got = js.error(
        "await P.deriveKeys(arg.receipt, arg.config);", {"receipt": receipt, "config": config}
    )
    assert got["code"] == code


# ---- sealed documents (§2.3) ----


def test_buckets_are_the_vectors(js: Js, vectors: dict[str, Any]) -> None:
    assert js.run("return P.BUCKETS;") == vectors["buckets"] == list(crypto.BUCKETS)


def message(text: str) -> dict[str, Any]:
    return {"v": 1, "type": "message", "text": text, "sent_on": "2026-11-27"}


def encoded_size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())


EMPTY_MESSAGE = encoded_size(message(""))


@pytest.mark.parametrize(
    ("size", "char"),
    [
        (EMPTY_MESSAGE, "x"),
        (1023, "x"),
        (1024, "x"),
        (1024 + (1024 - EMPTY_MESSAGE) % 2, "é"),  # ~540 characters, 1024+ bytes: bytes count
        (4095, "x"),
        (4096, "x"),
        (16384, "x"),
        (65535, "x"),
        (262144, "x"),
        (crypto.MAX_DOCUMENT_BYTES, "x"),
    ],
)
def test_padding_picks_the_smallest_bucket_larger_than_the_document(
    js: Js, oversight: crypto.PrivateKey, size: int, char: str
) -> None:
    count = (size - EMPTY_MESSAGE) // len(char.encode())
    doc = message(char * count)
    assert encoded_size(doc) == size
    sealed = crypto.b64u_decode(
        js.run(
            """const doc = {v: 1, type: 'message', text: arg.char.repeat(arg.count),
                           sent_on: '2026-11-27'};
            return P.b64u(P.sealDocument(doc, P.fromB64u(arg.pk)));""",
            {"char": char, "count": count, "pk": b64u(bytes(oversight.public_key))},
        )
    )
    padded = nacl.public.SealedBox(oversight).decrypt(sealed)
    assert len(padded) == crypto.bucket_for(size)
    assert crypto.open_document(sealed, oversight) == doc


def test_a_document_over_the_largest_bucket_is_too_large(
    js: Js, oversight: crypto.PrivateKey
) -> None:
    count = crypto.MAX_DOCUMENT_BYTES + 1 - EMPTY_MESSAGE
    got = js.run(
        """try { P.sealDocument({v: 1, type: 'message', text: 'x'.repeat(arg.count),
               sent_on: '2026-11-27'}, P.fromB64u(arg.pk)); }
        catch (e) { return [e.code, e.size]; }""",
        {"count": count, "pk": b64u(bytes(oversight.public_key))},
    )
    assert got == ["too_large", crypto.MAX_DOCUMENT_BYTES + 1]


def test_sealed_vector_opens_in_the_browser(js: Js, vectors: dict[str, Any]) -> None:
    v = vectors["sealed"]
    got = js.run(
        "return P.openDocument(P.fromB64u(arg.sealed), P.fromB64u(arg.pk), P.fromB64u(arg.sk));",
        {"sealed": v["sealed"], "pk": v["recipient_pk"], "sk": v["recipient_sk"]},
    )
    document = v["document"] if isinstance(v["document"], dict) else json.loads(v["document"])
    assert got == document
    assert crypto.bucket_for(encoded_size(got)) == v["padded_length"]


def awkward_report(reply_box_pk: bytes) -> dict[str, Any]:
    """A report whose text exercises JSON escaping and UTF-8 in both directions."""
    return {
        "v": 1,
        "type": "report",
        "channel": "third_party",
        "lang": "ar",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": 'B wing, "the landing" \\ cell 4',
        "occurred": "٢٠٢٦-١١-٢٠ ليلاً",
        "subjects": "Officer 🚨 on nights\tand another",
        "witnesses": "line one\nline two\r\n\u2028\u0001\u007f",
        "description": "Ça s'est passé — 彼は言った — " + "ß" * 300,
        "urgent": True,
        "identity": {"name": "Zofia", "phone": "+44 7700 900000"},
        "attachments": [
            {
                "blob_id": "b" * 32,
                "name": "zdjęcie.jpg",
                "mime": "image/jpeg",
                "size": 12345,
                "key": b64u(bytes(range(32))),
                "sha256": "0" * 64,
            }
        ],
        "reply_box_pk": b64u(reply_box_pk),
        "sent_on": "2026-11-27",
        "extra": [1, 2.5, None, False, {"nested": []}],
    }


def test_browser_sealed_report_opens_in_python(js: Js, oversight: crypto.PrivateKey) -> None:
    doc = awkward_report(bytes(crypto.PrivateKey.generate().public_key))
    sealed = crypto.b64u_decode(
        js.run(
            "return P.b64u(P.sealDocument(arg.doc, P.fromB64u(arg.pk)));",
            {"doc": doc, "pk": b64u(bytes(oversight.public_key))},
        )
    )
    assert crypto.open_document(sealed, oversight, expect="report") == doc
    padded = nacl.public.SealedBox(oversight).decrypt(sealed)
    python_encoding = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    # Not required by v1 (readers only need to accept it), but true: the same bytes.
    assert padded[: len(python_encoding)] == python_encoding


def test_python_sealed_report_opens_in_the_browser(js: Js) -> None:
    reporter = crypto.PrivateKey.generate()
    doc = awkward_report(bytes(reporter.public_key))
    sealed = crypto.seal_report(doc, reporter.public_key)
    got = js.run(
        """return P.openDocument(
            P.fromB64u(arg.sealed), P.fromB64u(arg.pk), P.fromB64u(arg.sk), 'report');""",
        {
            "sealed": b64u(sealed),
            "pk": b64u(bytes(reporter.public_key)),
            "sk": b64u(bytes(reporter)),
        },
    )
    assert got == doc


def test_opening_refuses_what_python_refuses(js: Js) -> None:
    reporter = crypto.PrivateKey.generate()
    pk = bytes(reporter.public_key)
    good = crypto.seal_document(message("hello"), reporter.public_key)
    tampered = bytearray(good)
    tampered[60] ^= 1
    plain = json.dumps(message("hello")).encode()
    cases = {
        "wrong key": crypto.seal_document(message("hi"), crypto.PrivateKey.generate().public_key),
        "tampered": bytes(tampered),
        "truncated": good[:-1],
        "not the smallest bucket": nacl.public.SealedBox(reporter.public_key).encrypt(
            bytes(nacl.bindings.sodium_pad(plain, 4096))
        ),
        "not a bucket": nacl.public.SealedBox(reporter.public_key).encrypt(
            bytes(nacl.bindings.sodium_pad(plain, 1000))
        ),
        "not JSON": nacl.public.SealedBox(reporter.public_key).encrypt(
            bytes(nacl.bindings.sodium_pad(b"{'v': 1}", 1024))
        ),
        "not v1": nacl.public.SealedBox(reporter.public_key).encrypt(
            bytes(nacl.bindings.sodium_pad(b'{"v":2,"type":"reply"}', 1024))
        ),
        "not a reply": good,  # opened with expect="reply"
    }
    got = js.run(
        """const out = {};
        for (const [name, sealed] of Object.entries(arg.cases)) {
          try { P.openDocument(P.fromB64u(sealed), P.fromB64u(arg.pk), P.fromB64u(arg.sk), 'reply');
                out[name] = 'opened'; }
          catch (e) { out[name] = e.code + ': ' + e.message; }
        }
        return out;""",
        {
            "cases": {k: b64u(v) for k, v in cases.items()},
            "pk": b64u(pk),
            "sk": b64u(bytes(reporter)),
        },
    )
    assert got == dict.fromkeys(cases, "cannot_open: could not open or verify sealed document")


@pytest.mark.parametrize(
    "doc_js",
    [
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-02-30'})",
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-11-27T10:00'})",
        "({v: 1, type: 'message', text: '\\ud800', sent_on: '2026-11-27'})",
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-11-27', n: NaN})",
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-11-27', u: undefined})",
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-11-27', d: new Date()})",
        "({v: '1', type: 'message', text: 'x', sent_on: '2026-11-27'})",
        "({v: 1, type: 'note', text: 'x', sent_on: '2026-11-27'})",
        "({v: 1, type: 'message', sent_on: '2026-11-27'})",
        "({v: 1, type: 'message', text: 'x', sent_on: '2026-11-27', attachments: [{}]})",
        "({v: 1, type: 'report', sent_on: '2026-11-27', attachments: []})",
    ],
)
def test_sealing_refuses_what_a_reader_would_refuse(
    js: Js, oversight: crypto.PrivateKey, doc_js: str
) -> None:
    got = js.error(f"P.sealDocument({doc_js}, P.fromB64u(arg));", b64u(bytes(oversight.public_key)))
    assert got["code"] == "invalid_document"


# ---- blobs (§2.4) ----

SIZES = [0, 1, 65535, 65536, 65537, 200000, 64 * 65536 + 65537]  # the last: two reads


def test_file_names_are_cleaned_as_the_portal_cleans_them(js: Js) -> None:
    """A file sealed in the page keeps the name the no-JavaScript form would have kept:
    last path segment, printable, at most 200 characters with its extension, never a
    name of dots alone."""
    long = "Statement about the night of 4 June on B wing " * 5
    shortened = [
        long + ".pdf",
        long + ".tar.gz",
        "é" * 250 + ".jpeg",
        "x" * 300,
        long + "." + "z" * 40,
    ]
    names = [*FILE_NAMES, ".\x1f", ". .", "...", "a/..", "a\\.", "\u200b", "x\u2028y", *shortened]
    in_browser = js.run("return arg.map(P.cleanFilename);", names)
    assert in_browser == [clean_filename(name) for name in names]
    assert "attachment" in in_browser  # the dots and the empty name became a real name
    # A name cut to 200 characters keeps its extension, so the file still opens as what it is.
    kept = in_browser[-len(shortened) :]
    assert [len(name) for name in kept] == [200] * len(shortened)
    assert [name.rpartition(".")[2] for name in kept[:3]] == ["pdf", "gz", "jpeg"]


def test_blob_vector_decrypts_in_the_browser(js: Js, vectors: dict[str, Any]) -> None:
    v = vectors["blob"]
    stored = (VECTORS / v["stored_file"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == v["stored_sha256"]
    got = crypto.b64u_decode(
        js.run(
            "return P.b64u(await P.decryptBlob(P.fromB64u(arg.stored), P.fromB64u(arg.key)));",
            {"stored": b64u(stored), "key": v["key"]},
        )
    )
    assert len(got) == v["plaintext_len"]
    assert hashlib.sha256(got).hexdigest() == v["plaintext_sha256"]
    assert got == (b"lanthorn blob vector " * 7000)[:140000]


@pytest.mark.parametrize("size", SIZES)
def test_browser_encrypted_blob_decrypts_in_python(js: Js, size: int) -> None:
    data = os.urandom(size)
    got = js.run(
        """const progress = [];
        const file = new File([P.fromB64u(arg)], 'evidence.bin');
        const blob = await P.encryptBlob(file, (done, total) => progress.push([done, total]));
        const stored = new Uint8Array(await blob.stored.arrayBuffer());
        return {stored: P.b64u(stored), key: P.b64u(blob.key), sha256: blob.sha256,
                size: blob.size, type: blob.stored.type, progress};""",
        b64u(data),
    )
    stored = crypto.b64u_decode(got["stored"])
    assert len(stored) == crypto.stored_size(size)
    out = io.BytesIO()
    summary = crypto.decrypt_file(io.BytesIO(stored), out, crypto.b64u_decode(got["key"]))
    assert out.getvalue() == data
    assert got["sha256"] == summary.sha256 == hashlib.sha256(data).hexdigest()
    assert got["size"] == summary.size == size
    assert got["type"] == "application/octet-stream"
    assert got["progress"][-1] == [size, size]
    assert [done for done, _ in got["progress"]] == sorted(done for done, _ in got["progress"])


@pytest.mark.parametrize("size", SIZES)
def test_python_encrypted_blob_decrypts_in_the_browser(js: Js, size: int) -> None:
    data = os.urandom(size)
    key = crypto.new_blob_key()
    stored = io.BytesIO()
    crypto.encrypt_file(io.BytesIO(data), stored, key)
    got = js.run(
        """const stored = new Blob([P.fromB64u(arg.stored)]);
        return P.b64u(await P.decryptBlob(stored, P.fromB64u(arg.key)));""",
        {"stored": b64u(stored.getvalue()), "key": b64u(key)},
    )
    assert crypto.b64u_decode(got) == data


def two_finals(key: bytes) -> bytes:
    """A blob whose every chunk is authentic, but which goes on after a TAG_FINAL chunk."""
    b = nacl.bindings
    state = b.crypto_secretstream_xchacha20poly1305_state()
    header = b.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    final = b.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    chunks = [
        b.crypto_secretstream_xchacha20poly1305_push(state, b.sodium_pad(text, 65536), None, final)
        for text in (b"first", b"second")
    ]
    return bytes(header) + b"".join(chunks)


def test_damaged_blobs_and_wrong_keys_are_refused_in_the_browser(js: Js) -> None:
    key = crypto.new_blob_key()
    out = io.BytesIO()
    crypto.encrypt_file(io.BytesIO(os.urandom(200000)), out, key)
    stored = out.getvalue()
    header, chunk = crypto.BLOB_HEADER_BYTES, crypto.BLOB_STORED_CHUNK
    flipped = bytearray(stored)
    flipped[header + chunk + 100] ^= 1
    chunks = [stored[header + i * chunk : header + (i + 1) * chunk] for i in range(4)]
    cases = {
        "tampered": (bytes(flipped), key),
        "truncated by a chunk": (stored[:-chunk], key),
        "truncated by a byte": (stored[:-1], key),
        "header only": (stored[:header], key),
        "chunks swapped": (stored[:header] + chunks[1] + chunks[0] + chunks[2] + chunks[3], key),
        "a chunk after the final one": (stored + chunks[3], key),
        "bytes after the final chunk": (stored + b"\0", key),
        "wrong key": (stored, crypto.new_blob_key()),
        "authentic chunks after a final one": (two_finals(key), key),
    }
    got = js.run(
        """const out = {};
        for (const [name, [stored, key]] of Object.entries(arg)) {
          try { await P.decryptBlob(P.fromB64u(stored), P.fromB64u(key)); out[name] = 'opened'; }
          catch (e) { out[name] = e.code; }
        }
        return out;""",
        {name: [b64u(s), b64u(k)] for name, (s, k) in cases.items()},
    )
    assert got == dict.fromkeys(cases, "cannot_open")


# ---- signed requests (§2.5) and b64u ----


def test_request_signature_vector(js: Js, vectors: dict[str, Any]) -> None:
    v = vectors["request_signature"]
    signing = crypto.SigningKey(crypto.b64u_decode(v["signing_seed"]))
    sk = bytes(signing) + bytes(signing.verify_key)
    got = js.run(
        """const nonce = P.fromB64u(arg.v.nonce), sk = P.fromB64u(arg.sk);
        const canonical = P.canonicalRequest(
            arg.v.method, arg.v.path, arg.v.timestamp, nonce, arg.v.body);
        const headers = await P.signRequest(arg.v.method, arg.v.path,
            new TextEncoder().encode(arg.v.body), sk, P.fromB64u(arg.v.verify_key),
            {timestamp: arg.v.timestamp, nonce});
        return {canonical, signature: P.b64u(P.signCanonical(canonical, sk)), headers};""",
        {"v": v, "sk": b64u(sk)},
    )
    assert got["canonical"] == v["canonical"]
    assert got["signature"] == v["signature"]
    assert got["headers"] == {
        "Lanthorn-Key": v["verify_key"],
        "Lanthorn-Timestamp": str(v["timestamp"]),
        "Lanthorn-Nonce": v["nonce"],
        "Lanthorn-Signature": v["signature"],
    }


def test_browser_signed_request_verifies_in_python(js: Js) -> None:
    keys = crypto.derive_reporter_keys("0" * 20, bytes(16), CHEAP_KDF)
    sk = bytes(keys.sign) + bytes(keys.sign_pk)
    body = json.dumps({"sealed": "x", "blob_ids": []}).encode()
    got = js.run(
        """const sk = P.fromB64u(arg.sk), id = P.fromB64u(arg.id), body = P.fromB64u(arg.body);
        return [await P.signRequest('POST', '/api/v1/thread/messages?x=%2F', body, sk, id),
                await P.signRequest('POST', '/api/v1/thread/messages?x=%2F', body, sk, id)];""",
        {"sk": b64u(sk), "id": b64u(keys.lookup_id), "body": b64u(body)},
    )
    assert got[0]["Lanthorn-Nonce"] != got[1]["Lanthorn-Nonce"]
    now = int(time.time())
    assert abs(int(got[0]["Lanthorn-Timestamp"]) - now) <= 5
    nonces = crypto.MemoryNonceStore(lambda: now)
    for headers in got:
        key_id = crypto.verify_request(
            headers,
            "POST",
            "/api/v1/thread/messages?x=%2F",
            body,
            now=now,
            resolve_key=lambda k: keys.sign_pk if k == keys.lookup_id else None,
            nonces=nonces,
        )
        assert key_id == keys.lookup_id


def test_b64u_matches_python(js: Js) -> None:
    values = [os.urandom(n) for n in (*range(8), 32, 64, 1000, 20000)]
    got = js.run(
        "return arg.map(t => [P.b64u(P.fromB64u(t)), P.fromB64u(t).length]);",
        [b64u(v) for v in values],
    )
    assert got == [[b64u(v), len(v)] for v in values]


@pytest.mark.parametrize(
    "text",
    ["", "AA", "AAA", "AAAA", "A", "AA==", "AB", "AAB", "+/", "a b", "AAE", "_-_-", "Zm9v\n"],
)
def test_b64u_is_exactly_as_strict_as_python(js: Js, text: str) -> None:
    try:
        expected: str | None = b64u(crypto.b64u_decode(text))
    except crypto.CryptoError:
        expected = None
    got = js.run("try { return P.b64u(P.fromB64u(arg)); } catch (e) { return null; }", text)
    assert got == expected


# ---- reporting without a portal: what is refused before anything is sent ----

FIELDS = {k: v for k, v in REPORT_FIELDS.items() if k != "urgent"} | {
    "channel": "staff",
    "urgent": False,
}


def test_files_over_the_limit_are_refused_before_upload(
    js: Js, oversight: crypto.PrivateKey
) -> None:
    config = fake_config(oversight, blob_bytes=crypto.stored_size(1000), submission_bytes=10**9)
    got = js.error(
        """await P.submitReport({config: arg.config, fields: arg.fields,
            files: [new File([new Uint8Array(70000)], 'big.mov')]});""",
        {"config": config, "fields": FIELDS},
    )
    assert got["code"] == "too_large"
    assert "big.mov" in got["message"]


def test_a_report_over_the_document_limit_is_refused_before_sending(
    js: Js, oversight: crypto.PrivateKey
) -> None:
    config = fake_config(oversight)
    config["limits"]["document_bytes"] = 2000
    fields = FIELDS | {"description": "x" * 3000}
    got = js.error(
        "await P.submitReport({config: arg.config, fields: arg.fields, files: []});",
        {"config": config, "fields": fields},
    )
    assert got["code"] == "too_large"


@pytest.mark.parametrize(
    "change",
    [{"descripton": "typo"}, {"channel": "post"}, {"urgent": "maybe"}, {"facility": 3}],
)
def test_report_fields_are_checked(
    js: Js, oversight: crypto.PrivateKey, change: dict[str, Any]
) -> None:
    got = js.error(
        "await P.submitReport({config: arg.config, fields: arg.fields, files: []});",
        {"config": fake_config(oversight), "fields": FIELDS | change},
    )
    assert got["code"] == "invalid_document"


# ---- loading: SRI and CSP ----


@pytest.mark.parametrize("path", SCRIPTS)
def test_sri_is_the_sha384_of_the_file(path: str) -> None:
    digest = hashlib.sha384((STATIC / path).read_bytes()).digest()
    assert sri(path) == "sha384-" + base64.b64encode(digest).decode()


@pytest.mark.parametrize("path", ["../app.py", "/etc/passwd", "missing.js", "vendor"])
def test_sri_refuses_what_is_not_a_static_file(path: str) -> None:
    with pytest.raises(ValueError, match="no static file"):
        sri(path)


def test_a_script_whose_integrity_is_wrong_does_not_run(browser: Browser, site: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(site + "/_test/wrong-integrity")
    page.wait_for_function("() => typeof window.sodium === 'object'")
    assert page.evaluate("() => typeof window.LanthornProtocol") == "undefined"
    assert any("integrity" in m and "lanthorn-protocol.js" in m for m in messages)
    context.close()


def test_without_wasm_unsafe_eval_libsodium_never_becomes_ready(
    browser: Browser, site: str
) -> None:
    """libsodium.js 0.8.4's JavaScript fallback does not survive a CSP that blocks WebAssembly
    (it deletes `libsodium.ready` before the wrappers read it): pages need BROWSER_CRYPTO_CSP,
    and without it LanthornProtocol.ready rejects rather than hangs."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(site + "/_test/no-wasm")
    page.wait_for_function("() => typeof window.LanthornProtocol === 'object'")
    got = page.evaluate("() => LanthornProtocol.ready.then(() => 'ready', e => e.message)")
    assert "libsodium.js is not loaded" in got
    context.close()


# ---- end to end, through a real portal ----


@pytest.fixture
def reporter(portal: Portal, browser: Browser) -> Iterator[Js]:
    """A page on the portal's own origin, so the API is same-origin as in production."""
    portal.app.router.routes.insert(0, page_route(BROWSER_CRYPTO_CSP))
    page, context = open_js(browser, portal.url)
    yield page
    context.close()


def files_arg(files: list[tuple[str, bytes, str]]) -> list[dict[str, str]]:
    return [{"name": n, "data": b64u(d), "mime": m} for n, d, m in files]


MAKE_FILES = (
    "const files = arg.files.map(f => new File([P.fromB64u(f.data)], f.name, {type: f.mime}));"
)


def test_report_from_the_browser_reaches_the_console_intact(portal: Portal, reporter: Js) -> None:
    files = [("cell-door.jpg", os.urandom(150_000), "image/jpeg"), ("notatki B.txt", b"", "")]
    fields = FIELDS | {"channel": "third_party", "urgent": "yes", "identity": "  Zofia  "}
    fields |= {"witnesses": None, "lang": None}  # a missing form field, as the form reads it
    got = reporter.run(
        MAKE_FILES
        + """const config = await P.fetchConfig(), stages = new Set();
        const sent = await P.submitReport({config, fields: arg.fields, files,
            onProgress: (done, total, stage) => stages.add(stage)});
        return {sent, stages: [...stages]};""",
        {"fields": fields, "files": files_arg(files)},
    )
    receipt, case = got["sent"]["receipt"], got["sent"]["case"]
    assert crypto.validate_receipt(receipt) == receipt
    assert got["stages"] == ["encrypting", "uploading", "deriving", "sending"]

    console = portal.console()
    (item,) = console.outbox()["items"]
    report = console.open(item)
    keys = portal.derive(receipt)
    assert item["case"] == case
    assert item["box_pk"] == report["reply_box_pk"] == b64u(bytes(keys.box_pk))
    assert report["channel"] == "third_party"
    assert report["urgent"] is True
    assert report["identity"] == "Zofia"
    for name in ("category", "facility", "location", "occurred", "subjects", "description"):
        assert report[name] == fields[name]
    assert (report["witnesses"], report["lang"]) == ("", "en")
    assert [console.attachment(a) for a in report["attachments"]] == [d for _, d, _ in files]
    assert [(a["name"], a["mime"]) for a in report["attachments"]] == [
        ("cell-door.jpg", "image/jpeg"),
        ("notatki B.txt", "application/octet-stream"),
    ]

    # The same report through the HTML form: the same fields, of the same types; both
    # are v2 reports, signed as the first item of their case.
    with portal.client() as client:
        response = submit_form_report(client, files=[("a.jpg", b"jpeg", "image/jpeg")])
        assert response.status_code == 201
    form_report = console.open(console.outbox()["items"][1])
    assert (report["v"], form_report["v"]) == (2, 2)
    assert report["reply_sign_pk"] == b64u(bytes(keys.sign_pk)) == item["sign_pk"]
    header = crypto.parse_item(item["signed"].encode())
    assert (header.kind, header.seq, b64u(header.signer)) == ("report", 0, item["sign_pk"])
    assert header.body == hashlib.sha256(crypto.b64u_decode(item["sealed"])).digest()
    assert list(report) == list(form_report)
    assert {k: type(v) for k, v in report.items() if k != "identity"} == {
        k: type(v) for k, v in form_report.items() if k != "identity"
    }
    assert list(report["attachments"][0]) == list(form_report["attachments"][0])
    assert report["sent_on"] == form_report["sent_on"]


def test_the_browser_reads_replies_and_sends_messages(portal: Portal, reporter: Js) -> None:
    sent = reporter.run(
        """const config = await P.fetchConfig();
        return P.submitReport({config, fields: arg, files: []});""",
        FIELDS,
    )
    console = portal.console()
    (item,) = console.outbox()["items"]
    console.ack(console.outbox()["next"])
    console.reply(sent["case"], console.open(item), "Thank you. We are looking into it.")
    assert console.status(sent["case"], console.open(item), "in_review").status_code == 201

    photo = os.urandom(70_000)
    got = reporter.run(
        MAKE_FILES
        + """const config = await P.fetchConfig();
        const spaced = P.groups(arg.receipt).join(' ');  // as a person types it back
        const thread = await P.readThread(spaced, config);
        const message = await P.sendMessage(arg.receipt, config, '  He was there again.  ', files);
        return {thread, message};""",
        {"receipt": sent["receipt"], "files": files_arg([("night.jpg", photo, "image/jpeg")])},
    )
    thread = got["thread"]
    assert thread["case"] == sent["case"]
    assert (thread["state"], thread["findings"]) == ("in_review", [])
    mine, reply, status = thread["items"]
    assert [i["verdict"] for i in thread["items"]] == ["ok", "ok", "ok"]
    assert (mine["from"], mine["kind"], mine["document"]) == ("reporter", "report", None)
    assert (reply["from"], reply["kind"]) == ("oversight", "reply")
    assert reply["document"]["text"] == "Thank you. We are looking into it."
    assert (status["from"], status["kind"]) == ("oversight", "status")
    assert got["message"]["seq"] == 3  # signed after the head it verified

    (item,) = console.outbox()["items"]
    assert item["id"] == got["message"]["id"]
    assert item["kind"] == "message"
    msg = console.open(item)
    assert msg["text"] == "He was there again."
    assert [console.attachment(a) for a in msg["attachments"]] == [photo]


def test_a_lookup_id_clash_is_retried_once_with_a_new_receipt(portal: Portal, reporter: Js) -> None:
    seen: list[str] = []

    def clash_once(route: Route) -> None:
        seen.append(json.loads(route.request.post_data or "{}")["lookup_id"])
        if len(seen) == 1:
            route.fulfill(
                status=409,
                content_type="application/json",
                body='{"error": "lookup_in_use", "message": "Send it again."}',
            )
        else:
            route.continue_()

    reporter.page.route("**/api/v1/reports", clash_once)
    sent = reporter.run(
        "return P.submitReport({config: await P.fetchConfig(), fields: arg, files: []});", FIELDS
    )
    assert len(seen) == 2
    assert seen[0] != seen[1] == b64u(portal.derive(sent["receipt"]).lookup_id)
    assert len(portal.console().outbox()["items"]) == 1


def test_portal_errors_reach_the_caller_with_status_and_code(portal: Portal, reporter: Js) -> None:
    got = reporter.run(
        """const config = await P.fetchConfig(), out = {};
        for (const [name, call] of Object.entries({
          blob: () => P.uploadBlob(new Blob([new Uint8Array(3)])),
          thread: () => P.readThread(P.newReceipt(), config),
        })) {
          try { await call(); out[name] = 'no error'; }
          catch (e) { out[name] = [e.status, e.code, e.message]; }
        }
        return out;"""
    )
    assert got["blob"][:2] == [422, "bad_blob"]
    assert "stored blob" in got["blob"][2]
    assert got["thread"][0] == 401
