/*
 * Lanthorn protocol v2 in the reporter's browser (docs/protocol.md), over libsodium.js:
 * v1's receipts, keys, sealed documents and blobs, and v2's signed conversation (§11–§19).
 * Every report and message it sends is signed into its case's chain; every thread it reads
 * is checked item by item and as a chain before anything in it is shown (readThread), with
 * the oversight keys resolved through their rollovers and checked against a pinned
 * fingerprint when the page has one (a kiosk's). It refuses key-derivation settings
 * weaker than the protocol fixes (§19.5) and signs v2 requests (host and key id, §18).
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
 * "file_changed", "not_ready", "bad_response", "weak_kdf" (the portal asks for a weaker
 * key derivation than the protocol fixes), "unexpected_oversight_key" (keys that do not
 * lead to the pinned fingerprint), "bad_rollover", "bad_item", "bad_fingerprint",
 * "item_rejected" (with `kind`), or the portal's own `error` code for a
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
  const DOCUMENT_TYPES_V2 = ["report", "message", "reply", "status", "outcome"];
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

  // The key-derivation cost protocol v2 fixes (docs/protocol.md §19.5): a portal may not
  // ask for less, or a receipt becomes guessable from its lookup id. Only a test harness
  // lowers the floor, by defining LanthornTestKdfFloor before this script loads (Playwright's
  // init scripts do); a portal's pages cannot, under the portal's CSP, run a script of their own.
  const KDF_FLOOR = (function () {
    const test = global.LanthornTestKdfFloor;
    if (test && Number.isSafeInteger(test.t) && Number.isSafeInteger(test.m_kib)) {
      return Object.freeze({ t: test.t, m_kib: test.m_kib });
    }
    return Object.freeze({ t: 3, m_kib: 65536 });
  })();

  function kdfOf(config) {
    // A v2 portal still takes v1 reports and messages (docs/protocol.md §19.6); this
    // client signs everything it sends to one.
    if (!config || typeof config !== "object" || (config.protocol !== 1 && config.protocol !== 2)) {
      throw problem("bad_config", "this portal does not speak Lanthorn protocol v1 or v2");
    }
    const kdf = config.kdf;
    if (!kdf || kdf.alg !== "argon2id13") {
      throw problem("weak_kdf", "the portal asks for a key derivation other than Argon2id");
    }
    if (kdf.p !== undefined && kdf.p !== 1) {
      throw problem("weak_kdf", "libsodium's Argon2id has exactly one lane (p = 1)");
    }
    // 2 GiB is beyond what a browser's WebAssembly memory allows anyway.
    if (!Number.isSafeInteger(kdf.t) || kdf.t > 64 ||
        !Number.isSafeInteger(kdf.m_kib) || kdf.m_kib > 2097152) {
      throw problem("bad_config", "the portal's Argon2id parameters are out of range");
    }
    if (kdf.t < KDF_FLOOR.t || kdf.m_kib < KDF_FLOOR.m_kib) {
      throw problem("weak_kdf", "the portal asks for a weaker key derivation than Lanthorn " +
        "allows (t = " + KDF_FLOOR.t + ", m_kib = " + KDF_FLOOR.m_kib + "): it may be " +
        "misconfigured or altered");
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
   * Throw `invalid_document` unless `doc` is a v1 or v2 document (of type `expect`, if
   * given): the checks of crypto.documents.check_document and check_document_v2.
   */
  function checkDocument(doc, expect) {
    const invalid = function (message) { return problem("invalid_document", message); };
    if (!isPlainObject(doc)) throw invalid("a document must be a JSON object");
    checkJson(doc, 0);
    if (doc.v !== 1 && doc.v !== 2) throw invalid('a document must have "v": 1 or "v": 2');
    const types = doc.v === 1 ? DOCUMENT_TYPES : DOCUMENT_TYPES_V2;
    if (types.indexOf(doc.type) < 0) {
      throw invalid('"type" must be one of ' + types.join(", "));
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
    const key = function (field) {
      if (!isB64uKey(doc[field])) throw invalid('"' + field + '" must be 32 bytes of b64u');
    };
    if (doc.type !== "report") {
      if (typeof doc.text !== "string") throw invalid("a " + doc.type + ' must have a "text" string');
      if (doc.v === 1) return;
      key("case_key");
      if (doc.type === "message") {
        if (("reply_sign_pk" in doc) !== ("key_proof" in doc)) {
          throw invalid('"reply_sign_pk" and "key_proof" come together or not at all');
        }
        if ("key_proof" in doc) { key("reply_sign_pk"); key("key_proof"); }
      } else if ("history" in doc) {
        const h = doc.history;
        if (!isPlainObject(h)) throw invalid('"history" must be an object');
        if (!Array.isArray(h.replies) || !h.replies.every(function (x) {
          return typeof x === "string" && /^[0-9a-f]{64}$/.test(x);
        })) throw invalid('"history.replies" must be a list of SHA-256 values in hex');
        if (!Array.isArray(h.received) || !h.received.every(function (x) {
          return typeof x === "string";
        })) throw invalid('"history.received" must be a list of item ids');
      }
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
    if (doc.v === 2) key("reply_sign_pk");
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
  function openDocument(sealed, publicKey, secretKey, expect, versions) {
    const accept = versions || [1];
    return openChecked(sealed, publicKey, secretKey, function (doc) {
      checkDocument(doc, expect);
      if (accept.indexOf(doc.v) < 0) throw cannotOpen("sealed document");
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

  /** A v1 reply from before v2 (shown only once a signed item vouched for it, §17.1). */
  function openLegacyReply(sealed, publicKey, secretKey) {
    return openDocument(sealed, publicKey, secretKey, "reply", [1]);
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

  /* ---- Protocol v2: the signed conversation (docs/protocol.md §11–§19) ---- */

  const ITEM_LABEL = "lanthorn/v2/item";
  const ROLLOVER_LABEL = "lanthorn/v2/rollover";
  const REPORTER_KINDS = ["report", "message"];
  const OVERSIGHT_KINDS = ["reply", "status", "outcome"];
  const ITEM_KINDS = REPORTER_KINDS.concat(OVERSIGHT_KINDS);
  const PUBLIC_STATES = ["received", "acknowledged", "in_review", "action_taken", "closed"];
  const GENESIS_HEX = "0".repeat(64);
  const MAX_SEQ = 999999999;
  const MAX_HEADER_BYTES = 512;
  const MAX_ROLLOVER_BYTES = 512;
  const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const SEQ_TEXT = /^(0|[1-9][0-9]{0,8})$/;
  const HEX32 = /^[0-9a-f]{64}$/;

  function hex(bytes) { return sodium.to_hex(bytes); }
  function sha256Hex(bytes) { return hex(sodium.crypto_hash_sha256(bytes)); }
  function ascii(text) { return utf8.encode(text); }

  function concat(parts) {
    const out = new Uint8Array(parts.reduce(function (n, p) { return n + p.length; }, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  // Ed25519 verification that never throws: a signature of the wrong length is a failure.
  function verifies(signature, message, publicKey) {
    try {
      return signature instanceof Uint8Array && signature.length === 64 &&
        sodium.crypto_sign_verify_detached(signature, message, publicKey);
    } catch (e) {
      return false;
    }
  }

  /* -- fingerprint (§12.2) -- */

  function fingerprintDigest(boxPk, signPk) {
    needSodium();
    bytesArg(boxPk, "boxPk", 32);
    bytesArg(signPk, "signPk", 32);
    return sodium.crypto_hash_sha256(concat([ascii("lanthorn/v2/fingerprint\n"), boxPk, signPk]));
  }

  /** The oversight keys' fingerprint as people compare it: "TMFE MYFT Z6S7 VV73 5MDR". */
  function fingerprint(boxPk, signPk) {
    const digest = fingerprintDigest(boxPk, signPk);
    let bits = "";
    for (let i = 0; i < 13; i++) bits += digest[i].toString(2).padStart(8, "0");
    const chars = [];
    for (let i = 0; i < 20; i++) chars.push(CROCKFORD[parseInt(bits.slice(5 * i, 5 * i + 5), 2)]);
    return groupsOfFour(chars.join(""));
  }

  function groupsOfFour(text) { return text.match(/.{4}/g).join(" "); }

  /**
   * A fingerprint as typed or printed, in its display form; throws `bad_fingerprint` if it
   * is not one. Case, spaces and hyphens do not matter; O reads as 0, I and L as 1.
   */
  function normalizeFingerprint(text) {
    if (typeof text !== "string") throw problem("bad_fingerprint", "a fingerprint is text");
    const chars = Array.from(text.toUpperCase()).filter(function (c) { return c !== " " && c !== "-"; });
    const read = chars.map(function (c) { return c === "O" ? "0" : (c === "I" || c === "L") ? "1" : c; });
    if (read.length !== 20 || !read.every(function (c) { return CROCKFORD.indexOf(c) >= 0; })) {
      throw problem("bad_fingerprint",
        "a fingerprint is 20 letters and digits, e.g. 7Q2M 0XKD 4HPA RT3N W8CE");
    }
    return groupsOfFour(read.join(""));
  }

  /* -- oversight keys and rollovers (§12.3, §12.4) -- */

  function generation(boxPk, signPk, retiredOn) {
    return Object.freeze({
      boxPk: boxPk, signPk: signPk, box: b64u(boxPk), sign: b64u(signPk),
      retiredOn: retiredOn || null, fingerprint: fingerprint(boxPk, signPk),
    });
  }

  /**
   * Verify a rollover statement ({statement, old_signature, new_signature}, as the config
   * serves it); returns {old, new, on} or throws `bad_rollover`.
   */
  function parseRollover(rollover) {
    needSodium();
    const bad = function () { return problem("bad_rollover", "a rollover statement does not verify"); };
    let old, next, on, statement;
    try {
      if (!isPlainObject(rollover) || typeof rollover.statement !== "string" ||
          rollover.statement.length > MAX_ROLLOVER_BYTES) throw bad();
      const lines = rollover.statement.split("\n");
      if (lines.length !== 6 || lines[0] !== ROLLOVER_LABEL || !isDate(lines[5])) throw bad();
      const keys = lines.slice(1, 5).map(function (k) { return fromB64u(k, 32); });
      on = lines[5];
      statement = [ROLLOVER_LABEL].concat(keys.map(b64u), [on]).join("\n");
      if (statement !== rollover.statement) throw bad();
      if (b64u(keys[0]) === b64u(keys[2]) || b64u(keys[1]) === b64u(keys[3])) throw bad();
      const bytes = ascii(statement);
      if (!verifies(fromB64u(rollover.old_signature, 64), bytes, keys[1]) ||
          !verifies(fromB64u(rollover.new_signature, 64), bytes, keys[3])) throw bad();
      old = generation(keys[0], keys[1], on);
      next = generation(keys[2], keys[3], null);
    } catch (e) {
      throw bad();
    }
    return { old: old, new: next, on: on };
  }

  /**
   * Follow the rollovers (newest first) back from the current keys and find `pinned`, a
   * fingerprint or null. Returns {keys: [current, retired...], pinned, changedOn, current}.
   * Throws `bad_rollover` for a broken list and `unexpected_oversight_key` when the pin
   * names none of the keys: then nothing may be sealed to them, nor shown as theirs.
   */
  function resolveOversightKeys(boxPk, signPk, rollovers, pinned) {
    needSodium();
    const keys = [generation(boxPk, signPk, null)];
    for (const raw of rollovers || []) {
      const r = parseRollover(raw);
      const reached = keys[keys.length - 1];
      if (r.new.box !== reached.box || r.new.sign !== reached.sign) {
        throw problem("bad_rollover", "a rollover does not lead to the keys after it");
      }
      if (reached.retiredOn !== null && r.on > reached.retiredOn) {
        throw problem("bad_rollover", "the rollovers are not in order");
      }
      if (keys.some(function (k) { return k.sign === r.old.sign || k.box === r.old.box; })) {
        throw problem("bad_rollover", "a rollover goes back to keys already reached");
      }
      keys.push(r.old);
    }
    const out = { keys: keys, current: keys[0], pinned: false, changedOn: null };
    if (pinned === null || pinned === undefined || pinned === "") return out;
    const want = normalizeFingerprint(pinned);
    for (const key of keys) {
      if (key.fingerprint === want) {
        return Object.assign(out, { pinned: true, changedOn: key.retiredOn });
      }
    }
    throw problem("unexpected_oversight_key",
      "the oversight keys this portal offers are not the ones this client expects");
  }

  /** The resolved oversight keys of a portal's /api/v1/config, checked against `pinned`. */
  function oversightOf(config, pinned) {
    kdfOf(config);
    let boxPk, signPk;
    try {
      boxPk = fromB64u(config.oversight_public_key, 32);
      signPk = fromB64u(config.oversight_sign_key, 32);
    } catch (e) {
      throw problem("bad_config", "the portal does not serve both oversight keys of protocol v2");
    }
    const rollovers = config.oversight_rollovers === undefined ? [] : config.oversight_rollovers;
    if (!Array.isArray(rollovers)) throw problem("bad_rollover", "oversight_rollovers is not a list");
    return resolveOversightKeys(boxPk, signPk, rollovers, pinned);
  }

  /* -- signed item headers (§14) -- */

  function headerProblem(h) {
    if (ITEM_KINDS.indexOf(h.kind) < 0) return "kind";
    if (h.state !== null && PUBLIC_STATES.indexOf(h.state) < 0) return "state";
    if (REPORTER_KINDS.indexOf(h.kind) >= 0 && h.state !== null) return "a report or message changes no state";
    if (h.kind === "status" && h.state === null) return "a status item names the new state";
    if (h.kind === "outcome" && h.state !== "closed") return "an outcome notice closes the case";
    if (!isB64uKey(h.caseKey) || !isB64uKey(h.signer)) return "keys";
    if (!HEX32.test(h.prev) || !HEX32.test(h.body)) return "hashes";
    if (!Number.isSafeInteger(h.seq) || h.seq < 0 || h.seq > MAX_SEQ) return "seq";
    if ((h.seq === 0) !== (h.prev === GENESIS_HEX)) return "the first item, and only it, follows 64 zeros";
    if (h.kind === "report" && h.seq !== 0) return "a report is always the first item";
    if (!isDate(h.sentOn)) return "sent_on";
    return null;
  }

  /** The exact text of a header (nine lines, LF, no final newline). */
  function itemCanonical(h) {
    const why = headerProblem(h);
    if (why) throw problem("bad_item", "not a v2 item header: " + why);
    return [ITEM_LABEL, h.kind, h.state === null ? "-" : h.state, h.caseKey, String(h.seq),
      h.prev, h.sentOn, h.body, h.signer].join("\n");
  }

  /**
   * Read a header from its signed text, strictly (one spelling per field); throws `bad_item`.
   * Returns {kind, state (null for "-"), caseKey, seq, prev, sentOn, body, signer}: keys in
   * b64u, hashes in lowercase hex.
   */
  function parseItem(signed) {
    const bad = problem("bad_item", "not a v2 item header");
    if (typeof signed !== "string" || signed.length > MAX_HEADER_BYTES || !/^[\x00-\x7f]*$/.test(signed)) {
      throw bad;
    }
    const lines = signed.split("\n");
    if (lines.length !== 9 || lines[0] !== ITEM_LABEL || !SEQ_TEXT.test(lines[4])) throw bad;
    const h = {
      kind: lines[1], state: lines[2] === "-" ? null : lines[2], caseKey: lines[3],
      seq: Number(lines[4]), prev: lines[5], sentOn: lines[6], body: lines[7], signer: lines[8],
    };
    let again;
    try { again = itemCanonical(h); } catch (e) { throw bad; }
    if (again !== signed) throw bad;
    return Object.freeze(h);
  }

  /** The hash the next item's PREV names: SHA-256 of the header text, in hex. */
  function itemHash(signed) {
    needSodium();
    return sha256Hex(ascii(signed));
  }

  /**
   * Sign a header for the item whose sealed bytes are `sealed`, after `head` ({seq, hash}
   * or null for the first item). Returns {signed, signature (bytes), hash, header}.
   */
  function signItem(signSecretKey, fields) {
    needSodium();
    bytesArg(signSecretKey, "signSecretKey", 64);
    const head = fields.after || null;
    const header = {
      kind: fields.kind,
      state: fields.state === undefined ? null : fields.state,
      caseKey: fields.caseKey,
      seq: head ? head.seq + 1 : 0,
      prev: head ? head.hash : GENESIS_HEX,
      sentOn: fields.sentOn,
      body: sha256Hex(bytesArg(fields.sealed, "sealed")),
      signer: b64u(signSecretKey.subarray(32)),
    };
    const signed = itemCanonical(header);
    return {
      signed: signed,
      signature: sodium.crypto_sign_detached(ascii(signed), signSecretKey),
      hash: itemHash(signed),
      header: Object.freeze(header),
    };
  }

  function signerGeneration(oversight, signer) {
    const keys = oversight && oversight.keys ? oversight.keys : oversight;
    for (const k of keys || []) if (k.sign === signer) return k;
    return null;
  }

  // ["ok" | "forged" | "moved", header or null], in the order of §15.1.
  function judge(signed, signature, sealed, caseKey, reporterKey, oversight) {
    let h;
    try { h = parseItem(signed); } catch (e) { return ["forged", null]; }
    const fromOversight = OVERSIGHT_KINDS.indexOf(h.kind) >= 0;
    const key = fromOversight ? signerGeneration(oversight, h.signer) : null;
    if (fromOversight && !key) return ["forged", h];
    if (!verifies(signature, ascii(signed), fromB64u(h.signer, 32))) return ["forged", h];
    if (h.caseKey !== caseKey) return ["moved", h];
    if (!fromOversight && h.signer !== reporterKey) return ["forged", h];
    if (key && key.retiredOn !== null && h.sentOn > key.retiredOn) return ["forged", h];
    if (sealed && sha256Hex(sealed) !== h.body) return ["forged", h];
    return ["ok", h];
  }

  function rejected(kind) {
    return problem("item_rejected", "a signed item that must not be shown (" + kind + ")",
      { kind: kind });
  }

  /**
   * Verify one item for a case: `caseKey` and `reporterKey` in b64u, `oversight` the
   * resolved keys (or a list of generations), `sealed` the bytes if present. Returns its
   * header, or throws `item_rejected` with `kind` "forged" or "moved".
   */
  function verifyItem(signed, signature, options) {
    needSodium();
    const got = judge(signed, signature, options.sealed || null, options.caseKey,
      options.reporterKey, options.oversight);
    if (got[0] !== "ok") throw rejected(got[0]);
    return got[1];
  }

  function innerCaseKey(doc) { return doc.type === "report" ? doc.reply_box_pk : doc.case_key; }

  /**
   * Open a verified item's sealed bytes with the reader's box keys and check them against
   * the header (§15.2): `item_rejected` ("forged" or "moved"), or the opaque `cannot_open`.
   */
  function openItem(sealed, publicKey, secretKey, header) {
    needSodium();
    if (sha256Hex(bytesArg(sealed, "sealed")) !== header.body) throw rejected("forged");
    const doc = openDocument(sealed, publicKey, secretKey, undefined, [2]);
    if (doc.type !== header.kind || doc.sent_on !== header.sentOn) throw rejected("forged");
    if (innerCaseKey(doc) !== header.caseKey) throw rejected("moved");
    if ("reply_sign_pk" in doc && doc.reply_sign_pk !== header.signer) throw rejected("forged");
    return doc;
  }

  /** The union of the `history` fields of opened oversight documents (§17.1). */
  function historyOf(documents) {
    const replies = new Set(), received = new Set();
    for (const doc of documents) {
      const h = doc && doc.history;
      if (isPlainObject(h)) {
        (Array.isArray(h.replies) ? h.replies : []).forEach(function (x) { replies.add(x); });
        (Array.isArray(h.received) ? h.received : []).forEach(function (x) { received.add(x); });
      }
    }
    return { replies: replies, received: received };
  }

  function legacyVerdict(entry, history) {
    if (entry.from !== "oversight") {
      return entry.id && history.received.has(entry.id) ? "vouched" : "legacy";
    }
    if (!entry.sealed) return "legacy";
    return history.replies.has(sha256Hex(entry.sealed)) ? "vouched" : "unvouched";
  }

  /**
   * Check a thread as the portal listed it (§16.2). `entries`: {signed (text, or null for
   * a v1 item), signature (bytes), sealed (bytes or null), id, from}. Options: caseKey and
   * reporterKey (b64u), oversight (resolved keys), history ({replies, received}: arrays or
   * Sets), knownHead ({seq, hash}). Returns {verdicts, headers, findings, head, state}.
   */
  function checkThread(entries, options) {
    needSodium();
    const history = {
      replies: new Set(options.history ? options.history.replies : []),
      received: new Set(options.history ? options.history.received : []),
    };
    const verdicts = [], headers = [], findings = [], seen = new Set(), chain = [];
    entries.forEach(function (entry, position) {
      let verdict, header = null;
      if (entry.signed === null || entry.signed === undefined) {
        verdict = legacyVerdict(entry, history);
      } else {
        const got = judge(entry.signed, entry.signature, entry.sealed || null,
          options.caseKey, options.reporterKey, options.oversight);
        verdict = got[0];
        header = got[1];
        if (verdict === "ok") {
          const digest = itemHash(entry.signed);
          if (seen.has(digest)) {
            verdict = "replay";
          } else {
            seen.add(digest);
            chain.push({ position: position, header: header, hash: digest });
          }
        }
      }
      verdicts.push(verdict);
      headers.push(verdict === "ok" ? header : null);
      if (["forged", "moved", "replay", "unvouched"].indexOf(verdict) >= 0) {
        const finding = { kind: verdict, position: position };
        if (header) finding.seq = header.seq;
        findings.push(finding);
      }
    });
    const bySeq = new Map();
    for (const c of chain) {
      if (!bySeq.has(c.header.seq)) bySeq.set(c.header.seq, []);
      bySeq.get(c.header.seq).push(c);
    }
    let top = -1;
    for (const c of chain) {
      if (c.header.seq < top) findings.push({ kind: "out_of_order", position: c.position, seq: c.header.seq });
      top = Math.max(top, c.header.seq);
    }
    const forks = [];
    for (const c of chain) {
      const same = bySeq.get(c.header.seq);
      const before = bySeq.get(c.header.seq - 1);
      if (same.length > 1 || (before && !before.some(function (b) { return b.hash === c.header.prev; }))) {
        forks.push({ kind: "fork", position: c.position, seq: c.header.seq });
      }
    }
    forks.sort(function (a, b) { return a.position - b.position; });
    Array.prototype.push.apply(findings, forks);
    let end = bySeq.size ? Math.max.apply(null, Array.from(bySeq.keys())) : -1;
    const known = options.knownHead;
    if (known) {
      if (known.seq > end) {
        end = known.seq;
      } else if (bySeq.has(known.seq) && !bySeq.get(known.seq).some(function (b) { return b.hash === known.hash; })) {
        findings.push({ kind: "fork", seq: known.seq });
      }
    }
    const present = Array.from(bySeq.keys()).sort(function (a, b) { return a - b; });
    let expected = 0;
    for (const seq of present.concat([end + 1])) {
      if (seq > expected) findings.push({ kind: "gap", seq: expected, until: seq - 1 });
      expected = seq + 1;
    }
    let head = null;
    if (bySeq.size) {
      const last = Math.max.apply(null, Array.from(bySeq.keys()));
      head = { seq: last, hash: bySeq.get(last)[0].hash };
    }
    let state = null;
    chain.slice().sort(function (a, b) { return a.header.seq - b.header.seq; }).forEach(function (c) {
      if (OVERSIGHT_KINDS.indexOf(c.header.kind) >= 0 && c.header.state !== null) state = c.header.state;
    });
    return { verdicts: verdicts, headers: headers, findings: findings, head: head, state: state,
      ok: findings.length === 0 };
  }

  /* -- the key proof of a case filed under v1 (§17.2) -- */

  function keyProof(reporterBoxSecretKey, reporterBoxPublicKey, reporterSignPublicKey, oversightBoxPk) {
    needSodium();
    const shared = sodium.crypto_box_beforenm(oversightBoxPk, reporterBoxSecretKey);
    try {
      return sodium.crypto_generichash(32, concat([ascii("lanthorn/v2/key-proof\n"),
        reporterBoxPublicKey, reporterSignPublicKey, oversightBoxPk]), shared);
    } finally {
      wipe(shared);
    }
  }

  /* -- signed requests, v2 (§18) -- */

  const HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;

  function canonicalHost(host) {
    const lowered = typeof host === "string" ? host.toLowerCase() : "";
    if (lowered.length > 255 || !HOST.test(lowered)) {
      throw problem("bad_argument", "host must be the Host header as sent, e.g. portal.example:8443");
    }
    return lowered;
  }

  /** The exact text a v2 request signs: eight lines joined with "\n" (§18.1). */
  function canonicalRequestV2(method, host, target, keyId, timestamp, nonce, body) {
    const v1 = canonicalRequest(method, target, timestamp, nonce, body).split("\n");
    bytesArg(keyId, "keyId", 32);
    return ["lanthorn/v2/request", v1[1], canonicalHost(host), v1[2], b64u(keyId)]
      .concat(v1.slice(3)).join("\n");
  }

  /**
   * The five headers of a v2 request to `host` (the page's own, location.host, by default).
   * `fixed` ({timestamp, nonce}) is for known-answer tests only.
   */
  async function signRequestV2(method, host, pathWithQuery, body, signSecretKey, keyId, fixed) {
    await ready;
    bytesArg(keyId, "keyId", 32);
    const timestamp = fixed && fixed.timestamp !== undefined
      ? fixed.timestamp : Math.floor(Date.now() / 1000);
    const nonce = fixed && fixed.nonce !== undefined
      ? fixed.nonce : sodium.randombytes_buf(NONCE_BYTES);
    const canonical = canonicalRequestV2(method, host, pathWithQuery, keyId, timestamp, nonce, body);
    return {
      "Lanthorn-Key": b64u(keyId),
      "Lanthorn-Timestamp": String(timestamp),
      "Lanthorn-Nonce": b64u(nonce),
      "Lanthorn-Signature": b64u(signCanonical(canonical, signSecretKey)),
      "Lanthorn-Protocol": "2",
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
        signed: report.signed,
        signature: b64u(bytesArg(report.signature, "signature", 64)),
      }),
    });
    if (typeof data.case !== "string") throw problem("bad_response", "no case in the answer");
    return { case: data.case };
  }

  async function signedCall(method, path, body, keys) {
    const headers = await signRequestV2(
      method, global.location.host, path, body, keys.signSecretKey, keys.lookupId);
    const init = { method: method, headers: headers };
    if (body.length) {
      headers["Content-Type"] = "application/json";
      init.body = body; // exactly the bytes that were signed
    }
    return call(path, init);
  }

  /* ---- Reporting and follow-up ---- */

  function oversightKeyOf(config, pinned) {
    return oversightOf(config, pinned).current.boxPk;
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

  function sealWithinLimit(doc, config, boxPk) {
    const sealed = sealDocument(doc, boxPk);
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
   * v2 report to the oversight box key, sign it as the first item of its case (SEQ 0) and
   * post it. Returns {receipt, case} only once the portal has stored it. `pin`, if given,
   * is the oversight fingerprint this client trusts (keys that do not lead to it are
   * refused before anything is sealed). onProgress(doneBytes, totalBytes, stage) with
   * stage "encrypting", "uploading", "deriving" (the key derivation takes a moment) or
   * "sending".
   */
  async function submitReport(options) {
    await ready;
    const config = options.config;
    const onProgress = options.onProgress || function () {};
    const boxPk = oversightKeyOf(config, options.pin);
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
        const report = Object.assign({ v: 2, type: "report" }, fields, {
          attachments: attachments,
          reply_box_pk: b64u(keys.boxPublicKey),
          reply_sign_pk: b64u(keys.signPublicKey),
          sent_on: todayUtc(),
        });
        const sealed = sealWithinLimit(report, config, boxPk);
        const item = signItem(keys.signSecretKey, {
          kind: "report", caseKey: report.reply_box_pk, after: null,
          sentOn: report.sent_on, sealed: sealed,
        });
        onProgress(total, total, "sending");
        const created = await postReport({
          sealed: sealed,
          lookupId: keys.lookupId,
          boxPublicKey: keys.boxPublicKey,
          signPublicKey: keys.signPublicKey,
          blobIds: attachments.map(function (a) { return a.blob_id; }),
          signed: item.signed,
          signature: item.signature,
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

  function binaryField(value) {
    try {
      return fromB64u(value);
    } catch (e) {
      return new Uint8Array(1); // never a valid signature, nor any sealed document's hash
    }
  }

  // One thread item of the API as checkThread takes it: anything malformed stays, in a
  // form that fails verification, so it is reported, never skipped.
  function entryOf(item) {
    return {
      signed: !("signed" in item) ? null : (typeof item.signed === "string" ? item.signed : ""),
      signature: binaryField(item.signature),
      sealed: typeof item.sealed === "string" ? binaryField(item.sealed) : null,
      id: typeof item.id === "string" ? item.id : "",
      from: item.from === "oversight" ? "oversight" : "reporter",
    };
  }

  /**
   * GET /api/v1/thread with a v2 signed request, and check all of it before anything is
   * shown (docs/protocol.md §19.4). `options.pin` is a fingerprint the client trusts
   * (a kiosk's); keys that do not lead to it throw `unexpected_oversight_key`, a broken
   * list of rollovers `bad_rollover`. Returns:
   *   {case, state, findings, ok, head, legacy, oversight, items}
   * where `state` is the state the verified oversight items set (never the portal's
   * word), `head` the verified chain's head, `legacy` true for a case filed under v1,
   * and each of `items` is {position, verdict, kind, from, on, seq, document}.
   * `verdict` is "ok", "vouched" or "legacy" for what may be shown, anything else
   * ("forged", "moved", "replay", "unvouched", "unreadable") for what must not be:
   * `document` is set only for an oversight item that verified and opened.
   */
  async function readThread(receipt, config, options) {
    await ready;
    const oversight = oversightOf(config, options && options.pin);
    const held = await keysFor(receipt, config);
    const keys = held.keys;
    try {
      const data = await signedCall("GET", "/api/v1/thread", EMPTY, keys);
      const listed = Array.isArray(data.items) ? data.items.filter(isPlainObject) : [];
      const entries = listed.map(entryOf);
      const where = {
        caseKey: b64u(keys.boxPublicKey),
        reporterKey: b64u(keys.signPublicKey),
        oversight: oversight,
        knownHead: options && options.knownHead,
      };
      // Open every authentic oversight item: its words, and the history it vouches for.
      const first = checkThread(entries, where);
      const documents = [], refused = {};
      first.verdicts.forEach(function (verdict, i) {
        const header = first.headers[i];
        if (verdict !== "ok" || OVERSIGHT_KINDS.indexOf(header.kind) < 0 || !entries[i].sealed) return;
        try {
          documents[i] = openItem(entries[i].sealed, keys.boxPublicKey, keys.boxSecretKey, header);
        } catch (e) {
          refused[i] = e.code === "item_rejected" ? e.kind : "unreadable";
        }
      });
      const check = checkThread(entries, Object.assign({},
        where, { history: historyOf(documents.filter(Boolean)) }));
      const findings = check.findings.slice();
      const items = entries.map(function (entry, i) {
        let verdict = check.verdicts[i];
        if (verdict === "ok" && refused[i]) {
          verdict = refused[i];
          findings.push({ kind: verdict, position: i, seq: check.headers[i].seq });
        }
        const header = verdict === "ok" ? check.headers[i] : null;
        const out = {
          position: i,
          verdict: verdict,
          kind: header ? header.kind : null,
          from: header ? (OVERSIGHT_KINDS.indexOf(header.kind) >= 0 ? "oversight" : "reporter")
            : entry.from,
          on: header ? header.sentOn : (typeof listed[i].on === "string" ? listed[i].on : ""),
          seq: header ? header.seq : null,
          id: entry.id,
          blob_ids: Array.isArray(listed[i].blob_ids) ? listed[i].blob_ids.slice() : [],
          document: null,
        };
        if (verdict === "ok" && documents[i]) out.document = documents[i];
        if (verdict === "vouched" && entry.from === "oversight" && entry.sealed) {
          try {
            out.document = openLegacyReply(entry.sealed, keys.boxPublicKey, keys.boxSecretKey);
          } catch (e) {
            out.verdict = "unreadable";
            findings.push({ kind: "unreadable", position: i });
          }
        }
        return out;
      });
      return {
        case: data.case,
        state: check.state,
        findings: findings,
        ok: findings.length === 0,
        head: check.head,
        legacy: entries.length > 0 && entries[0].signed === null,
        oversight: oversight,
        items: items,
      };
    } finally {
      if (held.owned) forgetKeys(keys);
    }
  }

  /**
   * POST /api/v1/thread/messages: a v2 message (text and files) sealed to the oversight
   * body and signed after the head of the thread as this client verified it; on 409
   * `thread_moved_on` the thread is read again and the message signed anew (§16.1).
   * In a case filed under v1 the message carries this receipt's key proof (§17.2).
   * Returns {id}. `options`: {pin, onProgress}; a function there is onProgress, as before.
   */
  async function sendMessage(receipt, config, text, files, options) {
    await ready;
    const opts = typeof options === "function" ? { onProgress: options } : (options || {});
    if (typeof text !== "string") throw problem("bad_argument", "a message is text");
    const message = text.trim();
    const list = Array.from(files || []);
    if (!message && !list.length) throw problem("empty", "Write a message or attach a file.");
    const boxPk = oversightKeyOf(config, opts.pin);
    const held = await keysFor(receipt, config);
    const keys = held.keys;
    try {
      let thread = await readThread(keys, config, { pin: opts.pin });
      const attachments = await attach(list, config, opts.onProgress);
      const doc = {
        v: 2,
        type: "message",
        case_key: b64u(keys.boxPublicKey),
        text: message,
        attachments: attachments,
        sent_on: todayUtc(),
      };
      if (thread.legacy) {
        doc.reply_sign_pk = b64u(keys.signPublicKey);
        doc.key_proof = b64u(keyProof(keys.boxSecretKey, keys.boxPublicKey, keys.signPublicKey, boxPk));
      }
      const sealed = sealWithinLimit(doc, config, boxPk);
      for (let attempt = 1; ; attempt++) {
        const item = signItem(keys.signSecretKey, {
          kind: "message", caseKey: doc.case_key, after: thread.head,
          sentOn: doc.sent_on, sealed: sealed,
        });
        const body = json({
          sealed: b64u(sealed),
          blob_ids: attachments.map(function (a) { return a.blob_id; }),
          signed: item.signed,
          signature: b64u(item.signature),
        });
        try {
          const data = await signedCall("POST", "/api/v1/thread/messages", body, keys);
          return { id: data.id, seq: item.header.seq };
        } catch (e) {
          if (e.code !== "thread_moved_on" || attempt >= 3) throw e;
          thread = await readThread(keys, config, { pin: opts.pin });
        }
      }
    } finally {
      if (held.owned) forgetKeys(keys);
    }
  }

  const LanthornProtocol = Object.freeze({
    version: 2,
    ready: ready,
    KDF_FLOOR: KDF_FLOOR,
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
    fingerprintDigest: fingerprintDigest,
    fingerprint: fingerprint,
    normalizeFingerprint: normalizeFingerprint,
    parseRollover: parseRollover,
    resolveOversightKeys: resolveOversightKeys,
    oversightOf: oversightOf,
    parseItem: parseItem,
    itemCanonical: itemCanonical,
    itemHash: itemHash,
    signItem: signItem,
    verifyItem: verifyItem,
    openItem: openItem,
    historyOf: historyOf,
    checkThread: checkThread,
    keyProof: keyProof,
    canonicalRequestV2: canonicalRequestV2,
    signRequestV2: signRequestV2,
  });
  Object.defineProperty(global, "LanthornProtocol", { value: LanthornProtocol, enumerable: true });
})(globalThis);
