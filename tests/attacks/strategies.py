"""Hypothesis strategies for hostile form input: edge values, mangled field sets, file
names with tricks, and multipart bodies that are broken in every way a parser can meet."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

#: Values that have broken form handlers somewhere: empty, NUL, line breaks and header
#: injection, direction overrides, format strings, markup, paths, odd Unicode, digits of
#: other scripts, percent-escapes that decode to controls, and invalid UTF-8.
EDGE_VALUES: list[bytes] = [
    b"",
    b" ",
    b"\x00",
    b"a\x00b",
    b"\r\n",
    b"x\r\nSet-Cookie: lanthorn_session=forged",
    "\u202egpj.exe".encode(),
    "\u200b\u200d\ufeff".encode(),
    b"%s%n%x%(x)s{0}",
    b"{{7*7}}${7*7}<%= 7*7 %>",
    b"<script>alert(1)</script>",
    b'"><img src=x onerror=alert(1)>',
    b"../../../../etc/passwd",
    b"/etc/passwd",
    b"C:\\Windows\\win.ini",
    b"CON",
    "😀\U0001f9d1\u200d\U0001f9af".encode(),
    "\u0663\u0664\u0665\u0666 \u00b2\u00b3".encode(),
    "ǅﬃİı".encode(),
    b"%00%0d%0a%ff",
    b"\xff\xfe\xfd",
    b"\xc3\x28",
    b"\xed\xa0\x80",  # a UTF-16 surrogate, encoded as if it were a character
    b"-1",
    b"99999999999999999999999999999999",
    b"1e309",
    b"NaN",
    b"null",
    b"[]",
    b"{}",
    b"true",
    b"\t \n \x0b \x0c",
]

#: Sizes just past each limit a form has: small forms 16 KiB, the kiosk 64 KiB,
#: a multipart text field 256 KiB.
HUGE_SIZES = [16 * 1024 + 1, 64 * 1024 + 1, 256 * 1024 + 1, 1024 * 1024]

values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
    st.sampled_from(HUGE_SIZES).map(lambda n: b"A" * n),
    st.integers(0, 2000).map(lambda n: "\u202e\u0000<".encode() * n),
)

names = st.one_of(
    st.text(min_size=1, max_size=20),
    st.sampled_from(["csrf", "token", "step", "answer", "lang", "receipt", "text", "unit0"]),
    st.just("x" * 5000),
)


@st.composite
def mangled(draw: st.DrawFn, valid: dict[str, str], csrf: str) -> list[tuple[str, bytes]]:
    """`valid` fields each kept, dropped, replaced or sent twice, plus extra fields; the
    CSRF token is usually right, so that the fuzzing gets past the check."""
    pairs: list[tuple[str, bytes]] = []
    token = draw(st.sampled_from(["right"] * 8 + ["drop", "garbage", "twice"]))
    if token == "right":
        pairs.append(("csrf", csrf.encode()))
    elif token == "garbage":
        pairs.append(("csrf", draw(values)))
    elif token == "twice":
        pairs += [("csrf", draw(values)), ("csrf", csrf.encode())]
    for name, value in valid.items():
        how = draw(st.sampled_from(["keep", "keep", "drop", "replace", "replace", "twice"]))
        if how == "keep":
            pairs.append((name, value.encode()))
        elif how == "replace":
            pairs.append((name, draw(values)))
        elif how == "twice":
            pairs += [(name, draw(values)), (name, value.encode())]
    pairs += draw(st.lists(st.tuples(names, values), max_size=3))
    if draw(st.integers(0, 19)) == 0:  # more fields than any form sends
        pairs += [(f"f{i}", b"x") for i in range(60)]
    return draw(st.permutations(pairs))


FILE_NAMES: list[str] = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32\\config\\sam",
    "C:\\fakepath\\photo.jpg",
    "report\x00.exe",
    "photo\u202egpj.exe",
    "CON",
    "aux.txt",
    "LPT1",
    ".htaccess",
    "..",
    ".",
    "",
    " ",
    "a" * 5000,
    "名前.pdf",
    "zażółć gęślą jaźń.pdf",
    '"quoted";filename=evil.sh',
    "new\r\nline.txt",
    "%2e%2e%2fetc%2fpasswd",
    "file:///etc/passwd",
    "<img src=x onerror=alert(1)>.png",
]

file_names = st.one_of(st.sampled_from(FILE_NAMES), st.text(max_size=30))


def _quoted(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass").replace(b'"', b'\\"')


@st.composite
def broken_multipart(draw: st.DrawFn) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, broken in one or more ways."""
    boundary = draw(
        st.sampled_from(
            [b"b0undary", b"x" * 70, b"y" * 300, b"with space", b"--", b'"quoted"', b"a"]
        )
    )
    declared = draw(st.sampled_from([boundary, b"other", b"", boundary + b"x", b'"' + boundary]))
    content_type = "multipart/form-data; boundary=" + declared.decode("latin-1")
    if draw(st.booleans()) and declared:
        content_type = draw(
            st.sampled_from(
                [content_type, "multipart/form-data", "multipart/mixed; boundary=b0undary",
                 content_type + "; charset=utf-16", "MULTIPART/FORM-DATA; BOUNDARY=b0undary"]
            )
        )  # fmt: skip
    newline = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r"]))
    out = bytearray(draw(st.sampled_from([b"", b"preamble\r\n", b"\r\n" * 3])))
    for _ in range(draw(st.integers(0, 6))):
        out += b"--" + boundary + newline
        kind = draw(st.sampled_from(["field", "file", "file", "headers", "nothing"]))
        name = draw(st.sampled_from(["csrf", "description", "attachments", "text", "x"]))
        if kind == "field":
            out += b'Content-Disposition: form-data; name="' + _quoted(name) + b'"' + newline
        elif kind == "file":
            filename = draw(file_names)
            out += (
                b'Content-Disposition: form-data; name="'
                + _quoted(name)
                + b'"; filename="'
                + _quoted(filename)
                + b'"'
                + newline
            )
            out += b"Content-Type: " + draw(
                st.sampled_from([b"image/png", b"", b"x" * 300, b"text/html; charset=\x00"])
            )
            out += newline
        elif kind == "headers":
            size = draw(st.sampled_from([10, 5000, 100_000]))
            for i in range(draw(st.integers(1, 40))):
                out += b"X-H" + str(i).encode() + b": " + b"h" * size + newline
        out += newline
        out += draw(st.binary(max_size=200))
        if draw(st.integers(0, 9)) == 0:
            out += b"\x00" * draw(st.sampled_from([1, 70_000]))
        out += newline
    ending = draw(st.sampled_from(["close", "close", "none", "no-dashes", "garbage"]))
    if ending == "close":
        out += b"--" + boundary + b"--" + newline
    elif ending == "no-dashes":
        out += b"--" + boundary + newline
    elif ending == "garbage":
        out += b"--" + boundary + b"--garbage" + newline + b"epilogue"
    return bytes(out), content_type


def chunked(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo its length), in order."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]
