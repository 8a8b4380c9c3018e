// Lanthorn kiosk: clear the screen after a quiet spell, warning first so the person at the
// kiosk can say they are still there (WCAG 2.2.1: at least 20 seconds to respond).
// Every move between the kiosk's screens replaces the page instead of adding to the
// browser's history, so Back never returns to the last person's screens or language.
(function () {
  "use strict";
  // The oversight fingerprint this kiosk's deployment pinned: launch-kiosk starts the
  // browser at /kiosk#pin=XXXX-XXXX-XXXX-XXXX-XXXX (deploy/kiosk/README.md). A fragment
  // never reaches the portal, and the kiosk carries it from screen to screen (every link,
  // form and move below keeps it; a redirect keeps it by itself), so the pin comes from
  // the kiosk's own configuration, never from the portal. The pages' scripts read it here.
  var pinned = /^#pin=([0-9A-Za-z-]{20,24})$/.exec(window.location.hash);
  var carried = pinned ? window.location.hash : "";
  function carry(url) { return carried ? url.split("#")[0] + carried : url; }
  // The sealing library (libsodium.js, lanthorn-protocol.js, the receipt screen) is not
  // loaded with the page: the first screen would wait for 1.4 MB of script and its
  // WebAssembly. The page names each file with its integrity hash (<meta
  // name="lanthorn-crypto">); crypto() adds them one after another, each pinned by that
  // hash, and resolves with LanthornProtocol once it is ready. The pages call it when the
  // reporter moves towards sealing, and again before they seal. A file that fails (a
  // changed file is refused by its hash) is tried again on the next call; nothing is sent
  // without it.
  var loading = null;
  var ran = 0;  // how many of the files have run
  function addScript(entry) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = entry[0];
      script.integrity = entry[1];
      script.async = false;
      script.addEventListener("load", function () { ran += 1; resolve(); });
      script.addEventListener("error", function () {
        script.remove();
        reject(new Error("a sealing script did not load: " + entry[0]));
      });
      document.head.appendChild(script);
    });
  }
  function loadCrypto() {
    if (loading) return loading;
    var files = Array.prototype.map.call(
      document.querySelectorAll('meta[name="lanthorn-crypto"]'),
      function (meta) { return meta.getAttribute("content").split(" "); });
    loading = files.slice(ran).reduce(function (before, entry) {
      return before.then(function () { return addScript(entry); });
    }, Promise.resolve()).then(function () {
      if (!window.LanthornProtocol) throw new Error("the sealing library is not here");
      return window.LanthornProtocol.ready.then(function () { return window.LanthornProtocol; });
    });
    loading.catch(function () { loading = null; });
    return loading;
  }
  Object.defineProperty(window, "LanthornKiosk", {
    value: Object.freeze({ pin: pinned ? pinned[1] : null, crypto: loadCrypto }), enumerable: true
  });
  if (carried) {
    document.querySelectorAll("form[action]").forEach(function (form) {
      form.setAttribute("action", carry(form.getAttribute("action")));
    });
  }
  // The kiosk's own links (Finish, Exit now, "I have a code from before"): replace.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link || link.origin !== window.location.origin) return;
    event.preventDefault();
    window.location.replace(carry(link.href));
  });
  // A form the page's own script handles (the code screen) waits for that script while
  // the page loads, instead of going to the server, whose answer would be a history entry
  // behind which this screen, in this person's language, would stay. Once the page has
  // loaded, a form whose script could not run goes to the server as without JavaScript.
  var held = null;
  var loaded = false;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (loaded || !form.matches("form[data-in-page]") || form.hasAttribute("data-ready")) return;
    event.preventDefault();
    held = form;
  }, true);
  window.addEventListener("load", function () {
    loaded = true;
    if (held) held.requestSubmit();
  });
  var languages = document.querySelector("form.choices button[name=lang]");
  // With JavaScript (always, on a kiosk) the questions run in one page that seals the
  // report itself; the language buttons post to the server's step pages only without it.
  if (languages && window.WebAssembly) {
    languages.form.addEventListener("submit", function (event) {
      var chosen = event.submitter && event.submitter.value;
      if (!chosen) return;
      event.preventDefault();
      window.location.replace(carry("/kiosk/report?lang=" + encodeURIComponent(chosen)));
    });
  }
  // The neutral screen, where leaving leads, has no idle end of its own.
  if (!document.body.hasAttribute("data-idle")) return;
  var idle = Number(document.body.getAttribute("data-idle")) * 1000;
  var warnFor = 20000;
  var warning = document.getElementById("idle-warning");
  var warnTimer = 0;
  var exitTimer = 0;

  function leave() {
    window.location.replace(carry("/kiosk/exit"));
  }

  function warn() {
    if (!warning) return;
    warning.hidden = false;
    var button = warning.querySelector("button");
    if (button) button.focus();
  }

  function reset(event) {
    window.clearTimeout(warnTimer);
    window.clearTimeout(exitTimer);
    // Touching Listen on the warning shows someone is there, but it is not their answer:
    // the warning stays up (hiding it under the finger would send the tap to whatever is
    // beneath) until they touch "I am still here".
    var listening = event && event.target && event.target.closest &&
      event.target.closest("#idle-warning .listen");
    if (warning && !listening) warning.hidden = true;
    warnTimer = window.setTimeout(warn, Math.max(0, idle - warnFor));
    exitTimer = window.setTimeout(leave, idle);
  }

  ["pointerdown", "keydown", "input", "touchstart"].forEach(function (name) {
    document.addEventListener(name, reset, { passive: true });
  });
  reset();
})();
