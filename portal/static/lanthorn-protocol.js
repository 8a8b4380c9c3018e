/*
 * Lanthorn protocol v1 in the reporter's browser (docs/protocol.md), over libsodium.js.
 *
 * A classic script, no build step: load it after vendor/libsodium/libsodium-sumo.js and
 * vendor/libsodium/libsodium-wrappers.js (each with its SRI hash), under BROWSER_CRYPTO_CSP.
 * It defines one global, `LanthornProtocol`; anything that needs libsodium awaits
 * `LanthornProtocol.ready` first (the synchronous functions throw `not_ready` before it).
 *
 * It must stay byte-compatible with the Python package `crypto/`: same receipts, same
 * derived keys, documents the console opens, blobs `crypto.blobs` decrypts, signatures
 * the portal verifies. tests/portal/test_browser_protocol.py holds it to that.
 *
 * Secrets live only in local variables: nothing is stored (no storage APIs, no cookies,
 * no globals), and derived secret keys are wiped with sodium.memzero once used.
 *
 * Errors are `Error`s with a `code`: "too_large", "invalid_document", "cannot_open"
 * (deliberately says no more), "bad_receipt", "bad_config", "bad_argument", "empty",
 * "file_changed", "not_ready", "bad_response", or the portal's own `error` code for a
 * non-2xx answer, which also carries `status`. A report or message too large to seal is
 * "too_large" with `part: "document"` (a file too large has its `name` instead).
 */
(function (global) {
  "use strict";

  // Captured once, so replacing the global later cannot swap the library under us.
  const sodium = global.sodium;
  let sodiumReady = false;
  const ready = sodium && sodium.ready
    ? sodium.ready.then(function () { sodiumReady = true; })
    : Promise.reject(new Error(
      "libsodium.js is not loaded: load vendor/libsodium/libsodium-sumo.js and " +
      "libsodium-wrappers.js before lanthorn-protocol.js"));

  const RECEIPT_DIGITS = 20;
  const BUCKETS = Object.freeze([1024, 4096, 16384, 65536, 262144, 1048576]);
  const MAX_DOCUMENT_BYTES = BUCKETS[BUCKETS.length - 1] - 1;
  const SEAL_OVERHEAD = 48; // crypto_box_SEALBYTES
  const MAX_SEALED_BYTES = BUCKETS[BUCKETS.length - 1] + SEAL_OVERHEAD;
  const BLOB_CHUNK = 65536;
  const READ_CHUNKS = 64; // encryptBlob reads 64 chunks (4 MiB) of the file at once
  const BLOB_HEADER_BYTES = 24; // crypto_secretstream_xchacha20poly1305_HEADERBYTES
  const BLOB_STORED_CHUNK = BLOB_CHUNK + 17; // + crypto_secretstream_..._ABYTES
  const BLOB_KEY_BYTES = 32;
  const NONCE_BYTES = 16;
  const MASTER_KEY_BYTES = 64;
  const LABELS = Object.freeze({
    lookup: "lanthorn/v1/lookup",
    box: "lanthorn/v1/box",
    sign: "lanthorn/v1/sign",
  });
  const DOCUMENT_TYPES = ["report", "message", "reply"];
  const REPORT_CHANNELS = ["staff", "kiosk", "third_party"];
  const REPORT_TEXT_FIELDS = [
    "lang", "category", "facility", "location", "occurred", "description", "subjects",
    "witnesses",
  ];
  // The fields a page passes to submitReport, in the order portal/web.py writes them.
  const FORM_TEXT_FIELDS = [
    "facility", "location", "occurred", "subjects", "witnesses", "description",
  ];
  const FORM_FIELDS = ["channel", "lang", "category"].concat(
    FORM_TEXT_FIELDS, ["urgent", "identity"]);
  const EMPTY = new Uint8Array(0);
  const utf8 = new TextEncoder();

  function problem(code, message, extra) {
    const error = new Error(message);
    error.code = code;
    return Object.assign(error, extra || {});
  }

  function cannotOpen(what) {
    return problem("cannot_open", "could not open or verify " + what);
  }

  function needSodium() {
    if (!sodiumReady) {
      throw problem("not_ready", "await LanthornProtocol.ready before using it");
    }
  }

  function wipe(bytes) {
    if (bytes instanceof Uint8Array) {
      if (sodiumReady) sodium.memzero(bytes); else bytes.fill(0);
    }
  }

  function bytesArg(value, name, length) {
    if (!(value instanceof Uint8Array)) {
      throw problem("bad_argument", name + " must be a Uint8Array");
    }
    if (length !== undefined && value.length !== length) {
      throw problem("bad_argument", name + " must be " + length + " bytes");
    }
    return value;
  }

  /* ---- b64u: URL-safe base64 without padding, strict like crypto/encoding.py ---- */

  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const B64U = /^[A-Za-z0-9_-]*$/;
  const DECODE = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

  function b64u(bytes) {
    bytesArg(bytes, "b64u(bytes)");
    const parts = [];
    let line = "";
    for (let i = 0; i < bytes.length; i += 3) {
      const rest = bytes.length - i;
      const n = (bytes[i] << 16) | ((rest > 1 ? bytes[i + 1] : 0) << 8) |
        (rest > 2 ? bytes[i + 2] : 0);
      line += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
      if (rest > 1) line += ALPHABET[(n >> 6) & 63];
      if (rest > 2) line += ALPHABET[n & 63];
      if (line.length >= 8192) { parts.push(line); line = ""; }
    }
    parts.push(line);
    return parts.join("");
  }

  /** Decode strict b64u; refuses padding, other characters and non-canonical tails. */
  function fromB64u(text, length) {
    if (typeof text !== "string" || !B64U.test(text) || text.length % 4 === 1) {
      throw problem("bad_base64", "not a b64u value");
    }
    const out = new Uint8Array(Math.floor(text.length * 3 / 4));
    let o = 0;
    for (let i = 0; i < text.length; i += 4) {
      const left = text.length - i;
      const a = DECODE[text.charCodeAt(i)];
      const b = DECODE[text.charCodeAt(i + 1)];
      const c = left > 2 ? DECODE[text.charCodeAt(i + 2)] : 0;
      const d = left > 3 ? DECODE[text.charCodeAt(i + 3)] : 0;
      const n = (a << 18) | (b << 12) | (c << 6) | d;
      out[o++] = n >> 16;
      if (left > 2) out[o++] = (n >> 8) & 255;
      if (left > 3) out[o++] = n & 255;
      // Bits below the last whole byte must be zero: one spelling per value.
      if ((left === 2 && (b & 15)) || (left === 3 && (c & 3))) {
        throw problem("bad_base64", "not a canonical b64u value");
      }
    }
    if (length !== undefined && out.length !== length) {
      throw problem("bad_base64", "a b64u value of the wrong length");
    }
    return out;
  }

  /* ---- Receipts (§2.1) ---- */

  // The order-10 weakly totally anti-symmetric quasigroup from H. Michael Damm's thesis.
  const DAMM = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
  ];

  /** The Damm check digit (a number) of a string of ASCII digits. */
  function dammCheckDigit(digits) {
    if (typeof digits !== "string" || !/^[0-9]*$/.test(digits)) {
      throw problem("bad_argument", "dammCheckDigit takes a string of ASCII digits");
    }
    let interim = 0;
    for (let i = 0; i < digits.length; i++) interim = DAMM[interim][digits.charCodeAt(i) - 48];
    return interim;
  }

  /** A new receipt: 19 uniformly random digits and their check digit, 20 ASCII digits. */
  function newReceipt() {
    const digits = [];
    const random = new Uint8Array(32);
    while (digits.length < RECEIPT_DIGITS - 1) {
      global.crypto.getRandomValues(random);
      for (let i = 0; i < random.length && digits.length < RECEIPT_DIGITS - 1; i++) {
        if (random[i] < 250) digits.push(random[i] % 10); // 250 = 25 × 10: no bias
      }
    }
    random.fill(0);
    const body = digits.join("");
    return body + String(dammCheckDigit(body));
  }

  const DECIMAL_DIGIT = /\p{Nd}/u;

  function isDecimalDigit(codePoint) {
    return DECIMAL_DIGIT.test(String.fromCodePoint(codePoint));
  }

  // Unicode encodes every decimal digit (category Nd) in runs of ten, 0 to 9, and a run
  // of runs starts with a 0: a digit's value is its distance from the start of its run
  // of runs, modulo 10. No table to fall out of date with the browser's Unicode.
  function decimalValue(codePoint) {
    if (codePoint >= 48 && codePoint <= 57) return codePoint - 48;
    let start = codePoint;
    while (start > 0 && isDecimalDigit(start - 1)) start--;
    return (codePoint - start) % 10;
  }

  function receiptDigits(text) {
    if (typeof text !== "string") throw problem("bad_argument", "a receipt is a string");
    let digits = "";
    for (const ch of text) {
      if (DECIMAL_DIGIT.test(ch)) digits += String(decimalValue(ch.codePointAt(0)));
    }
    return digits;
  }

  /**
   * Read back a receipt as typed: every Unicode decimal digit becomes its ASCII digit,
   * everything else is dropped. {ok: true, digits} or {ok: false, problem, count}, where
   * problem is "length" (count digits instead of 20) or "check" (a typo the Damm digit
   * caught). Check this before deriving keys: a typo then costs nothing.
   */
  function normaliseReceipt(text) {
    const digits = receiptDigits(text);
    if (digits.length !== RECEIPT_DIGITS) {
      return { ok: false, problem: "length", count: digits.length };
    }
    if (dammCheckDigit(digits) !== 0) return { ok: false, problem: "check", count: digits.length };
    return { ok: true, digits: digits };
  }

  /** A receipt in groups of four for showing: ["4721", "0938", ...]. */
  function groups(receipt) {
    return receiptDigits(receipt).match(/[0-9]{1,4}/g) || [];
  }

  /* ---- Reporter keys (§2.2) ---- */

  function kdfOf(config) {
    // A v2 portal still takes v1 reports and messages, for the transition of
    // docs/protocol.md §18.4; this client signs nothing yet.
    if (!config || typeof config !== "object" || (config.protocol !== 1 && config.protocol !== 2)) {
      throw problem("bad_config", "this portal does not speak Lanthorn protocol v1");
    }
    const kdf = config.kdf;
    if (!kdf || kdf.alg !== "argon2id13") {
      throw problem("bad_config", "the portal asks for a key derivation other than Argon2id");
    }
    if (kdf.p !== undefined && kdf.p !== 1) {
      throw problem("bad_config", "libsodium's Argon2id has exactly one lane (p = 1)");
    }
    // 2 GiB is beyond what a browser's WebAssembly memory allows anyway.
    if (!Number.isSafeInteger(kdf.t) || kdf.t < 1 || kdf.t > 64 ||
        !Number.isSafeInteger(kdf.m_kib) || kdf.m_kib < 8 || kdf.m_kib > 2097152) {
      throw problem("bad_config", "the portal's Argon2id parameters are out of range");
    }
    let salt;
    try {
      salt = fromB64u(config.receipt_salt, 16);
    } catch (e) {
      throw problem("bad_config", "the portal's receipt_salt is not 16 bytes of b64u");
    }
    return { salt: salt, t: kdf.t, memlimit: kdf.m_kib * 1024 };
  }

  function subkey(master, label) {
    return sodium.crypto_generichash(32, utf8.encode(label), master);
  }

  /**
   * Derive lookupId and the box and signing keypairs from the 20 ASCII digits of a
   * receipt, with the portal's public salt and Argon2id cost from GET /api/v1/config.
   * Like crypto.derive_master_key it does not check the Damm digit: normaliseReceipt first.
   */
  async function deriveKeys(receipt, config) {
    await ready;
    if (typeof receipt !== "string" || !/^[0-9]{20}$/.test(receipt)) {
      throw problem("bad_receipt", "derive keys from the 20 ASCII digits of a receipt");
    }
    const kdf = kdfOf(config);
    const password = utf8.encode(receipt);
    const master = sodium.crypto_pwhash(
      MASTER_KEY_BYTES, password, kdf.salt, kdf.t, kdf.memlimit,
      sodium.crypto_pwhash_ALG_ARGON2ID13);
    wipe(password);
    let boxSeed = null;
    let signSeed = null;
    try {
      const lookupId = subkey(master, LABELS.lookup);
      boxSeed = subkey(master, LABELS.box);
      signSeed = subkey(master, LABELS.sign);
      const box = sodium.crypto_box_seed_keypair(boxSeed);
      const sign = sodium.crypto_sign_seed_keypair(signSeed);
      return {
        lookupId: lookupId,
        boxPublicKey: box.publicKey,
        boxSecretKey: box.privateKey,
        signPublicKey: sign.publicKey,
        signSecretKey: sign.privateKey,
      };
    } finally {
      wipe(master);
      wipe(boxSeed);
      wipe(signSeed);
    }
  }

  function forgetKeys(keys) {
    wipe(keys.boxSecretKey);
    wipe(keys.signSecretKey);
  }

  /* ---- Sealed documents (§2.3) ---- */

  function isPlainObject(value) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  }

  const LONE_SURROGATE = /\p{Cs}/u;

  // Only what Python's json.dumps(allow_nan=False) writes and its strict reader reads
  // back to the same value: no NaN or Infinity, no undefined, no lone surrogates
  // (crypto.open_document refuses them), no Dates or other objects JSON.stringify
  // would quietly turn into something else.
  function checkJson(value, depth) {
    if (depth > 64) throw problem("invalid_document", "the document is nested too deeply");
    if (value === null || typeof value === "boolean") return;
    if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        throw problem("invalid_document", "the document holds a number JSON cannot carry");
      }
      return;
    }
    if (typeof value === "string") {
      if (LONE_SURROGATE.test(value)) {
        throw problem("invalid_document", "the document holds text that is not valid Unicode");
      }
      return;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) checkJson(value[i], depth + 1);
      return;
    }
    if (isPlainObject(value)) {
      for (const key of Object.keys(value)) {
        checkJson(key, depth + 1);
        checkJson(value[key], depth + 1);
      }
      return;
    }
    throw problem("invalid_document", "the document is not plain JSON");
  }

  function isDate(value) {
    const m = typeof value === "string" && /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(value);
    if (!m) return false;
    const year = Number(m[1]);
    const month = Number(m[2]);
    const day = Number(m[3]);
    if (year < 1 || month < 1 || month > 12 || day < 1) return false;
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
    return day <= days;
  }

  function isB64uKey(value) {
    try {
      fromB64u(value, 32);
      return true;
    } catch (e) {
      return false;
    }
  }

  function checkDescriptor(d, where) {
    const invalid = function (what) { return problem("invalid_document", where + what); };
    if (!isPlainObject(d)) throw invalid(" must be an object");
    for (const field of ["blob_id", "name", "mime"]) {
      if (typeof d[field] !== "string") throw invalid("." + field + " must be a string");
    }
    if (!Number.isSafeInteger(d.size) || d.size < 0) {
      throw invalid(".size must be a non-negative integer");
    }
    if (!isB64uKey(d.key)) throw invalid(".key must be 32 bytes of b64u");
    if (typeof d.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(d.sha256)) {
      throw invalid(".sha256 must be 64 lowercase hex digits");
    }
  }

  /**
   * Throw `invalid_document` unless `doc` is a v1 document (of type `expect`, if given):
   * the checks of crypto.documents.check_document, which the console's reader applies.
   */
  function checkDocument(doc, expect) {
    const invalid = function (message) { return problem("invalid_document", message); };
    if (!isPlainObject(doc)) throw invalid("a document must be a JSON object");
    checkJson(doc, 0);
    if (doc.v !== 1) throw invalid('a v1 document must have "v": 1');
    if (DOCUMENT_TYPES.indexOf(doc.type) < 0) {
      throw invalid('"type" must be "report", "message" or "reply"');
    }
    if (expect !== undefined && doc.type !== expect) {
      throw invalid('expected a "' + expect + '" document, got "' + doc.type + '"');
    }
    if (!isDate(doc.sent_on)) {
      throw invalid('"sent_on" must be a date, YYYY-MM-DD, with no time of day');
    }
    const attachments = "attachments" in doc ? doc.attachments : [];
    if (!Array.isArray(attachments)) throw invalid('"attachments" must be a list');
    attachments.forEach(function (d, i) { checkDescriptor(d, "attachments[" + i + "]"); });
    if (doc.type !== "report") {
      if (typeof doc.text !== "string") throw invalid("a " + doc.type + ' must have a "text" string');
      return;
    }
    if (REPORT_CHANNELS.indexOf(doc.channel) < 0) {
      throw invalid('"channel" must be "staff", "kiosk" or "third_party"');
    }
    for (const field of REPORT_TEXT_FIELDS) {
      if (typeof doc[field] !== "string") throw invalid('"' + field + '" must be a string');
    }
    if (typeof doc.urgent !== "boolean") throw invalid('"urgent" must be true or false');
    if (!("attachments" in doc)) {
      throw invalid('a report must have "attachments" (an empty list if none)');
    }
    if (!("identity" in doc) ||
        (doc.identity !== null && typeof doc.identity !== "string" && !isPlainObject(doc.identity))) {
      throw invalid('"identity" must be null, a string or an object');
    }
    if (!isB64uKey(doc.reply_box_pk)) {
      throw invalid('"reply_box_pk" must be a 32-byte public key in b64u');
    }
  }

  /** The smallest bucket strictly larger than `size`; `too_large` past the last one. */
  function bucketFor(size) {
    for (const bucket of BUCKETS) if (bucket > size) return bucket;
    throw problem(
      "too_large",
      "This document is " + size + " bytes; protocol v1 documents must be under " +
      BUCKETS[BUCKETS.length - 1] + " bytes. Send long text or files as attachments.",
      { size: size, part: "document" });
  }

  /**
   * Check `doc`, write it as UTF-8 JSON (compact, non-ASCII as is: what
   * crypto.documents writes), pad it to its bucket and seal it to `recipientPublicKey`.
   */
  function sealDocument(doc, recipientPublicKey) {
    needSodium();
    bytesArg(recipientPublicKey, "recipientPublicKey", 32);
    checkDocument(doc);
    const plain = utf8.encode(JSON.stringify(doc));
    let padded = null;
    try {
      padded = sodium.pad(plain, bucketFor(plain.length));
      return sodium.crypto_box_seal(padded, recipientPublicKey);
    } finally {
      wipe(plain);
      wipe(padded);
    }
  }

  /**
   * Open a sealed document addressed to (publicKey, secretKey); return the object.
   * Any failure (wrong key, tampering, bad padding or bucket, bad UTF-8 or JSON, not a
   * v1 document, not of type `expect`) throws the same opaque `cannot_open`.
   */
  function openDocument(sealed, publicKey, secretKey, expect) {
    return openChecked(sealed, publicKey, secretKey, function (doc) {
      checkDocument(doc, expect);
    });
  }

  function openChecked(sealed, publicKey, secretKey, check) {
    needSodium();
    bytesArg(sealed, "sealed");
    bytesArg(publicKey, "publicKey", 32);
    bytesArg(secretKey, "secretKey", 32);
    if (sealed.length > MAX_SEALED_BYTES) throw cannotOpen("sealed document");
    let padded = null;
    try {
      padded = sodium.crypto_box_seal_open(sealed, publicKey, secretKey);
      if (BUCKETS.indexOf(padded.length) < 0) throw cannotOpen("sealed document");
      const plain = sodium.unpad(padded, padded.length);
      if (bucketFor(plain.length) !== padded.length) throw cannotOpen("sealed document");
      const doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
      check(doc);
      return doc;
    } catch (e) {
      throw cannotOpen("sealed document");
    } finally {
      wipe(padded);
    }
  }

  /**
   * A reply from the oversight body as this client shows it: a v1 `reply`, or the text of
   * a v2 `reply` or `outcome` (docs/protocol.md §13); null for a v2 `status` change,
   * which has no words. This client does not check signed headers yet: it shows v2
   * replies as it showed v1 ones.
   */
  function openReply(sealed, publicKey, secretKey) {
    try {
      return openDocument(sealed, publicKey, secretKey, "reply");
    } catch (e) {
      const doc = openChecked(sealed, publicKey, secretKey, function (d) {
        if (!isPlainObject(d) || d.v !== 2 || typeof d.text !== "string" ||
            ["reply", "outcome", "status"].indexOf(d.type) < 0 || !isDate(d.sent_on)) {
          throw cannotOpen("sealed document");
        }
      });
      return doc.type === "status" ? null : doc;
    }
  }

  /* ---- Blobs (§2.4) ---- */

  /** The stored-form size of a blob holding `size` plaintext bytes. */
  function storedSize(size) {
    return BLOB_HEADER_BYTES + (Math.floor(size / BLOB_CHUNK) + 1) * BLOB_STORED_CHUNK;
  }

  async function readSlice(file, start, length) {
    const bytes = new Uint8Array(await file.slice(start, start + length).arrayBuffer());
    if (bytes.length !== length) {
      throw problem("file_changed", "The file changed or could not be read while it was " +
        "being encrypted. Choose it again.");
    }
    return bytes;
  }

  /**
   * Encrypt a Blob or File to the v1 stored form under a fresh key, reading it 4 MiB at a
   * time (a read costs more than the cipher; bench/browser.py) and sealing it 64 KiB at a
   * time. Returns {stored: Blob, key, sha256 (hex of the plaintext), size}.
   * onProgress(doneBytes, totalBytes) is called after each read.
   */
  async function encryptBlob(file, onProgress) {
    await ready;
    if (!(file instanceof Blob)) throw problem("bad_argument", "encryptBlob takes a Blob or File");
    const total = file.size;
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const stream = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    const hash = sodium.crypto_hash_sha256_init();
    const MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    const FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    let parts = [stream.header];
    let done = 0;
    // Every whole 64 KiB chunk is a TAG_MESSAGE chunk: v1 always ends with a separate
    // final chunk, empty when the size is a multiple of 64 KiB.
    while (total - done >= BLOB_CHUNK) {
      const whole = Math.min(READ_CHUNKS, Math.floor((total - done) / BLOB_CHUNK)) * BLOB_CHUNK;
      const window = await readSlice(file, done, whole);
      for (let at = 0; at < whole; at += BLOB_CHUNK) {
        const plain = window.subarray(at, at + BLOB_CHUNK);
        sodium.crypto_hash_sha256_update(hash, plain);
        parts.push(
          sodium.crypto_secretstream_xchacha20poly1305_push(stream.state, plain, null, MESSAGE));
      }
      wipe(window);
      done += whole;
      // Hand each window's ciphertext to the browser's blob store, so that it, not the
      // JavaScript heap, holds a large file's stored form.
      parts = [new Blob(parts)];
      if (onProgress) onProgress(done, total);
    }
    const rest = await readSlice(file, done, total - done);
    sodium.crypto_hash_sha256_update(hash, rest);
    const padded = sodium.pad(rest, BLOB_CHUNK);
    parts.push(sodium.crypto_secretstream_xchacha20poly1305_push(stream.state, padded, null, FINAL));
    wipe(rest);
    wipe(padded);
    if (onProgress) onProgress(total, total);
    return {
      stored: new Blob(parts, { type: "application/octet-stream" }),
      key: key,
      sha256: sodium.to_hex(sodium.crypto_hash_sha256_final(hash)),
      size: total,
    };
  }

  async function bytesOf(data) {
    if (data instanceof Uint8Array) return data;
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
    throw problem("bad_argument", "expected a Uint8Array, ArrayBuffer or Blob");
  }

  /**
   * Decrypt a whole stored-form blob. Truncation, reordered or altered chunks, a wrong
   * key and any byte after the final chunk all throw the opaque `cannot_open`.
   */
  async function decryptBlob(storedBytes, key) {
    await ready;
    const stored = await bytesOf(storedBytes);
    bytesArg(key, "key", BLOB_KEY_BYTES);
    const body = stored.length - BLOB_HEADER_BYTES;
    if (body < BLOB_STORED_CHUNK || body % BLOB_STORED_CHUNK !== 0) throw cannotOpen("blob");
    const chunks = body / BLOB_STORED_CHUNK;
    const MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    const FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    const parts = [];
    try {
      const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        stored.subarray(0, BLOB_HEADER_BYTES), key);
      for (let i = 0; i < chunks; i++) {
        const start = BLOB_HEADER_BYTES + i * BLOB_STORED_CHUNK;
        const result = sodium.crypto_secretstream_xchacha20poly1305_pull(
          state, stored.subarray(start, start + BLOB_STORED_CHUNK), null);
        if (!result) throw cannotOpen("blob");
        const last = i === chunks - 1;
        if (result.tag !== (last ? FINAL : MESSAGE)) throw cannotOpen("blob");
        parts.push(last ? sodium.unpad(result.message, BLOB_CHUNK) : result.message);
      }
    } catch (e) {
      throw cannotOpen("blob");
    }
    const size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    const out = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  /* ---- Signed requests (§2.5) ---- */

  function bodyBytes(body) {
    if (body === undefined || body === null) return EMPTY;
    if (typeof body === "string") return utf8.encode(body);
    return bytesArg(body, "body");
  }

  /**
   * The exact text that is signed: lines joined with "\n". `target` is the path and
   * query exactly as sent on the wire; `nonce` 16 bytes; `body` bytes (or a string,
   * sent as UTF-8), empty when there is none.
   */
  function canonicalRequest(method, target, timestamp, nonce, body) {
    needSodium();
    if (typeof method !== "string" || !/^[A-Z]+$/.test(method)) {
      throw problem("bad_argument", "method must be upper-case letters, e.g. GET or POST");
    }
    if (typeof target !== "string" || !/^\/[\x21-\x7e]*$/.test(target)) {
      throw problem("bad_argument", "target must be the raw request target, e.g. /api/v1/thread");
    }
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw problem("bad_argument", "timestamp must be whole Unix seconds");
    }
    bytesArg(nonce, "nonce", NONCE_BYTES);
    return [
      "lanthorn/v1/request", method, target, String(timestamp), b64u(nonce),
      sodium.to_hex(sodium.crypto_hash_sha256(bodyBytes(body))),
    ].join("\n");
  }

  /** The Ed25519 signature (64 bytes) of a canonical request string. */
  function signCanonical(canonical, signSecretKey) {
    needSodium();
    bytesArg(signSecretKey, "signSecretKey", 64);
    return sodium.crypto_sign_detached(utf8.encode(canonical), signSecretKey);
  }

  /**
   * The four Lanthorn-* headers for a request. `keyId` is the reporter's lookupId.
   * `fixed` ({timestamp, nonce}) is for known-answer tests only; normally the time is now
   * and the nonce 16 fresh random bytes.
   */
  async function signRequest(method, pathWithQuery, body, signSecretKey, keyId, fixed) {
    await ready;
    bytesArg(keyId, "keyId", 32);
    const timestamp = fixed && fixed.timestamp !== undefined
      ? fixed.timestamp : Math.floor(Date.now() / 1000);
    const nonce = fixed && fixed.nonce !== undefined
      ? fixed.nonce : sodium.randombytes_buf(NONCE_BYTES);
    const canonical = canonicalRequest(method, pathWithQuery, timestamp, nonce, body);
    return {
      "Lanthorn-Key": b64u(keyId),
      "Lanthorn-Timestamp": String(timestamp),
      "Lanthorn-Nonce": b64u(nonce),
      "Lanthorn-Signature": b64u(signCanonical(canonical, signSecretKey)),
    };
  }

  /* ---- The portal's JSON API (§2.6) ---- */

  async function call(path, init) {
    const response = await global.fetch(path, Object.assign({
      credentials: "omit",
      cache: "no-store",
      mode: "same-origin",
      redirect: "error",
      referrerPolicy: "no-referrer",
    }, init));
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const known = data && typeof data === "object";
      throw problem(
        known && typeof data.error === "string" ? data.error : "http_error",
        known && typeof data.message === "string"
          ? data.message : "The portal answered " + response.status + ".",
        { status: response.status });
    }
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      throw problem("bad_response", "The portal's answer was not understood.",
        { status: response.status });
    }
    return data;
  }

  function json(value) {
    return utf8.encode(JSON.stringify(value));
  }

  /** GET /api/v1/config: protocol, oversight key, receipt salt, KDF cost, limits. */
  async function fetchConfig() {
    const config = await call("/api/v1/config", { method: "GET" });
    kdfOf(config); // refuse a portal we cannot speak to before anyone types anything
    return config;
  }

  /** POST /api/v1/blobs with a stored-form blob; returns its blob_id. */
  async function uploadBlob(storedBlob) {
    if (!(storedBlob instanceof Blob)) throw problem("bad_argument", "uploadBlob takes a Blob");
    const data = await call("/api/v1/blobs", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: storedBlob,
    });
    if (typeof data.blob_id !== "string") throw problem("bad_response", "no blob_id in the answer");
    return data.blob_id;
  }

  /** POST /api/v1/reports; returns {case}. A lookup id already in use is status 409. */
  async function postReport(report) {
    const data = await call("/api/v1/reports", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: json({
        sealed: b64u(bytesArg(report.sealed, "sealed")),
        lookup_id: b64u(bytesArg(report.lookupId, "lookupId", 32)),
        box_pk: b64u(bytesArg(report.boxPublicKey, "boxPublicKey", 32)),
        sign_pk: b64u(bytesArg(report.signPublicKey, "signPublicKey", 32)),
        blob_ids: Array.from(report.blobIds || []),
      }),
    });
    if (typeof data.case !== "string") throw problem("bad_response", "no case in the answer");
    return { case: data.case };
  }

  async function signedCall(method, path, body, keys) {
    const headers = await signRequest(method, path, body, keys.signSecretKey, keys.lookupId);
    const init = { method: method, headers: headers };
    if (body.length) {
      headers["Content-Type"] = "application/json";
      init.body = body; // exactly the bytes that were signed
    }
    return call(path, init);
  }

  /* ---- Reporting and follow-up ---- */

  function oversightKeyOf(config) {
    kdfOf(config);
    try {
      return fromB64u(config.oversight_public_key, 32);
    } catch (e) {
      throw problem("bad_config", "the portal's oversight_public_key is not 32 bytes of b64u");
    }
  }

  function limitOf(config, name) {
    const value = config.limits && config.limits[name];
    return Number.isSafeInteger(value) ? value : Infinity;
  }

  function todayUtc() {
    return new Date().toISOString().slice(0, 10); // the date only, never a time of day
  }

  // What portal/multipart.py keeps of a file name: the last path segment, printable
  // characters only, at most 200 of them (a shortened name keeps an extension of up to 15
  // characters after its last dot), and never a name of dots alone (a directory).
  function cleanFilename(raw) {
    const last = String(raw || "").replace(/\\/g, "/").split("/").pop();
    let kept = Array.from(last).filter(function (ch) {
      return ch === " " || !/[\p{C}\p{Z}]/u.test(ch);
    });
    if (kept.length > 200) {
      const dot = kept.lastIndexOf(".");
      const extension = kept.length - dot - 1;
      const ending = dot > 0 && extension > 0 && extension < 16 ? kept.slice(dot) : [];
      kept = kept.slice(0, 200 - ending.length).concat(ending);
    }
    const name = kept.join("");
    return name.replace(/[. ]/g, "") ? name : "attachment";
  }

  function sealWithinLimit(doc, config) {
    const sealed = sealDocument(doc, oversightKeyOf(config));
    if (sealed.length > limitOf(config, "document_bytes")) {
      throw problem("too_large", "This is more text than the portal accepts in one go. " +
        "Send long text as an attached file.", { size: sealed.length, part: "document" });
    }
    return sealed;
  }

  async function attach(files, config, onProgress) {
    const list = Array.from(files || []);
    for (const file of list) {
      if (!(file instanceof Blob)) throw problem("bad_argument", "attachments must be Files or Blobs");
    }
    const total = list.reduce(function (n, f) { return n + f.size; }, 0);
    const storedTotal = list.reduce(function (n, f) { return n + storedSize(f.size); }, 0);
    for (const file of list) {
      if (storedSize(file.size) > limitOf(config, "blob_bytes")) {
        throw problem("too_large", "The file " + cleanFilename(file.name) + " is larger " +
          "than the portal accepts.", { name: cleanFilename(file.name) });
      }
    }
    if (storedTotal > limitOf(config, "submission_bytes")) {
      throw problem("too_large", "These files together are larger than the portal accepts " +
        "with one report or message.", { size: total });
    }
    const report = onProgress || function () {};
    const attachments = [];
    let before = 0;
    for (const file of list) {
      const blob = await encryptBlob(file, function (done) {
        report(before + done, total, "encrypting");
      });
      report(before + file.size, total, "uploading");
      const blobId = await uploadBlob(blob.stored);
      attachments.push({
        blob_id: blobId,
        name: cleanFilename(file.name),
        mime: String(file.type || "").slice(0, 100) || "application/octet-stream",
        size: blob.size,
        key: b64u(blob.key),
        sha256: blob.sha256,
      });
      wipe(blob.key);
      before += file.size;
    }
    return attachments;
  }

  // The fields of a report exactly as portal/web.py fills them in from its form: text
  // trimmed, "urgent" a boolean, an empty "identity" null.
  function reportFields(fields) {
    if (!isPlainObject(fields)) throw problem("invalid_document", "fields must be an object");
    for (const name of Object.keys(fields)) {
      if (FORM_FIELDS.indexOf(name) < 0) {
        throw problem("invalid_document", 'a report has no field "' + name + '"');
      }
    }
    // Missing (undefined or null) reads as the form path reads a missing field.
    const text = function (name, fallback) {
      const value = fields[name] === undefined || fields[name] === null ? fallback : fields[name];
      if (typeof value !== "string") throw problem("invalid_document", '"' + name + '" must be text');
      return value.trim();
    };
    const channel = fields.channel === "third-party" ? "third_party" : fields.channel;
    if (REPORT_CHANNELS.indexOf(channel) < 0) {
      throw problem("invalid_document", '"channel" must be "staff", "kiosk" or "third_party"');
    }
    const urgent = fields.urgent === "yes" ? true : fields.urgent === "no" ? false : fields.urgent;
    if (typeof urgent !== "boolean") {
      throw problem("invalid_document", '"urgent" must be true or false');
    }
    const identity = text("identity", "");
    const out = { channel: channel, lang: text("lang", "en"), category: text("category", "") };
    for (const name of FORM_TEXT_FIELDS) out[name] = text(name, "");
    out.urgent = urgent;
    out.identity = identity || null;
    return out;
  }

  /**
   * Send a report: encrypt and upload `files`, make a receipt, derive its keys, seal the
   * report to the oversight key and post it. Returns {receipt, case} only once the portal
   * has stored it. onProgress(doneBytes, totalBytes, stage) with stage "encrypting",
   * "uploading", "deriving" (the key derivation takes a moment) or "sending".
   */
  async function submitReport(options) {
    const config = options.config;
    const onProgress = options.onProgress || function () {};
    oversightKeyOf(config);
    const fields = reportFields(options.fields);
    const attachments = await attach(options.files, config, onProgress);
    const total = attachments.reduce(function (n, a) { return n + a.size; }, 0);
    // A lookup id already in use (409) means a 1-in-2^63 clash: a new receipt settles it.
    // Blob ids stay usable: a refused report changes nothing on the portal.
    for (let attempt = 1; ; attempt++) {
      onProgress(total, total, "deriving");
      const receipt = newReceipt();
      const keys = await deriveKeys(receipt, config);
      try {
        const report = Object.assign({ v: 1, type: "report" }, fields, {
          attachments: attachments,
          reply_box_pk: b64u(keys.boxPublicKey),
          sent_on: todayUtc(),
        });
        const sealed = sealWithinLimit(report, config);
        onProgress(total, total, "sending");
        const created = await postReport({
          sealed: sealed,
          lookupId: keys.lookupId,
          boxPublicKey: keys.boxPublicKey,
          signPublicKey: keys.signPublicKey,
          blobIds: attachments.map(function (a) { return a.blob_id; }),
        });
        return { receipt: receipt, case: created.case };
      } catch (e) {
        if (e.status !== 409 || attempt >= 2) throw e;
      } finally {
        forgetKeys(keys);
      }
    }
  }

  // A receipt as typed, or keys from deriveKeys (which the caller then wipes itself).
  async function keysFor(receipt, config) {
    if (receipt && typeof receipt === "object") return { keys: receipt, owned: false };
    const checked = normaliseReceipt(receipt);
    if (!checked.ok) {
      throw problem("bad_receipt", checked.problem === "length"
        ? "A receipt code has 20 digits, but " + checked.count + " were entered."
        : "This receipt code has a typing mistake: one digit is wrong or two are swapped.",
      { problem: checked.problem, count: checked.count });
    }
    return { keys: await deriveKeys(checked.digits, config), owned: true };
  }

  /**
   * GET /api/v1/thread, signed with the receipt's keys. Replies from the oversight body
   * are opened ({document}); the reporter's own items cannot be (document null). A reply
   * that does not open has document null and unreadable true.
   */
  async function readThread(receipt, config) {
    const held = await keysFor(receipt, config);
    const keys = held.keys;
    try {
      const data = await signedCall("GET", "/api/v1/thread", EMPTY, keys);
      const items = (Array.isArray(data.items) ? data.items : []).map(function (item) {
        const out = {
          id: item.id,
          from: item.from,
          on: item.on,
          blob_ids: Array.isArray(item.blob_ids) ? item.blob_ids.slice() : [],
          document: null,
        };
        if (item.from === "oversight" && typeof item.sealed === "string") {
          try {
            out.document = openReply(
              fromB64u(item.sealed), keys.boxPublicKey, keys.boxSecretKey);
          } catch (e) {
            out.unreadable = true;
          }
        }
        return out;
      });
      return { case: data.case, status: data.status, items: items };
    } finally {
      if (held.owned) forgetKeys(keys);
    }
  }

  /**
   * POST /api/v1/thread/messages: a message (text and files) sealed to the oversight
   * body. Returns {id}. onProgress as for submitReport.
   */
  async function sendMessage(receipt, config, text, files, onProgress) {
    if (typeof text !== "string") throw problem("bad_argument", "a message is text");
    const message = text.trim();
    const list = Array.from(files || []);
    if (!message && !list.length) throw problem("empty", "Write a message or attach a file.");
    oversightKeyOf(config);
    const held = await keysFor(receipt, config);
    try {
      const attachments = await attach(list, config, onProgress);
      const sealed = sealWithinLimit({
        v: 1,
        type: "message",
        text: message,
        attachments: attachments,
        sent_on: todayUtc(),
      }, config);
      const body = json({
        sealed: b64u(sealed),
        blob_ids: attachments.map(function (a) { return a.blob_id; }),
      });
      const data = await signedCall("POST", "/api/v1/thread/messages", body, held.keys);
      return { id: data.id };
    } finally {
      if (held.owned) forgetKeys(held.keys);
    }
  }

  const LanthornProtocol = Object.freeze({
    version: 1,
    ready: ready,
    BUCKETS: BUCKETS,
    BLOB_CHUNK: BLOB_CHUNK,
    b64u: b64u,
    fromB64u: fromB64u,
    dammCheckDigit: dammCheckDigit,
    newReceipt: newReceipt,
    normaliseReceipt: normaliseReceipt,
    groups: groups,
    deriveKeys: deriveKeys,
    checkDocument: checkDocument,
    bucketFor: bucketFor,
    sealDocument: sealDocument,
    openDocument: openDocument,
    storedSize: storedSize,
    cleanFilename: cleanFilename,
    encryptBlob: encryptBlob,
    decryptBlob: decryptBlob,
    canonicalRequest: canonicalRequest,
    signCanonical: signCanonical,
    signRequest: signRequest,
    fetchConfig: fetchConfig,
    uploadBlob: uploadBlob,
    postReport: postReport,
    submitReport: submitReport,
    readThread: readThread,
    sendMessage: sendMessage,
  });
  Object.defineProperty(global, "LanthornProtocol", { value: LanthornProtocol, enumerable: true });
})(globalThis);
