// Lanthorn follow-up sign-in, JavaScript path (progressive enhancement): the receipt code
// is checked and turned into keys here in the page, the thread is read with a v2 signed
// request and checked (every item and the chain, protocol v2) before anything is shown: a
// thread with anything wrong is shown here from the checks, and the keys go nowhere.
// Otherwise only the keys go to the portal
// (`lookup_id`, `box_sk`, `sign_sk`), which finds the case by its lookup id, checks both keys
// against it and opens the same session as without JavaScript. The code never leaves the
// browser, and the portal runs no Argon2id for it. Without JavaScript, or if this browser
// cannot run it, the form sends the code and the server derives the same keys in memory.
(function () {
  "use strict";
  var form = document.getElementById("follow-up-form");
  var P = window.LanthornProtocol;
  if (!form || !P || !window.WebAssembly || !window.fetch) return;
  // What only this script shows comes escaped in data-script-only attributes, not in the
  // page, where a text browser (which ignores `hidden`) would show it: put it in place.
  document.querySelectorAll("[data-script-only]").forEach(function (holder) {
    var parts = document.createElement("template");
    parts.innerHTML = holder.getAttribute("data-script-only");
    holder.replaceWith(parts.content);
  });
  var field = form.querySelector("#receipt");
  var button = form.querySelector("button[type=submit]");
  var opening = document.getElementById("opening");
  var hint = document.querySelector("[data-in-page]");
  if (hint) hint.textContent = hint.getAttribute("data-in-page");
  var busy = false;

  // Show the page's message for `name` ("length", "check", "unknown", "failed"; "" for
  // none), the same words the server would answer with, and hide any older one.
  function problem(name, count) {
    document.querySelectorAll("[data-problem]").forEach(function (p) {
      if (!p.hasAttribute("data-text")) p.setAttribute("data-text", p.textContent);
      p.textContent = p.getAttribute("data-text").replace("{count}", String(count));
      p.hidden = p.getAttribute("data-problem") !== name;
    });
    document.querySelectorAll(".field-error:not([data-problem])").forEach(function (p) {
      p.hidden = true;  // the server's answer to the last try, now out of date
    });
    if (name) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    } else {
      field.removeAttribute("aria-invalid");
    }
  }

  function idle() {
    busy = false;
    button.disabled = false;
    opening.hidden = true;
  }

  // Any other answer (an expired form, a portal that cannot reach its database) is shown
  // as the server's own page: the same keys, sent by the browser as a form.
  function sendAsPage(fields) {
    var page = document.createElement("form");
    page.method = "post";
    page.action = form.action;
    page.acceptCharset = "utf-8";
    page.hidden = true;
    fields.forEach(function (value, name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      page.appendChild(input);
    });
    document.body.appendChild(page);
    page.submit();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;  // a second click while the first is on its way sends nothing
    var typed = P.normaliseReceipt(field.value);
    if (!typed.ok) { problem(typed.problem, typed.count); return; }
    problem("");
    busy = true;
    button.disabled = true;
    opening.hidden = false;
    var fields = new URLSearchParams();
    fields.append("csrf", form.elements.namedItem("csrf").value);
    var config = null;
    P.ready
      .then(function () { return P.fetchConfig(); })
      .then(function (got) {
        config = got;
        P.oversightOf(config, null);  // rollovers that do not verify: stop here
        return P.deriveKeys(typed.digits, config);
      })
      .then(function (keys) {
        // Read and check the thread here first (protocol v2, docs/protocol.md §19.4).
        // A thread with anything wrong is shown from the checks, in this page, and the
        // keys go nowhere; a sound one opens as the server's page, as before.
        return P.readThread(keys, config).then(function (thread) {
          if (thread.ok) return keys;
          field.value = "";
          showChecked(thread, keys, config);
          return null;
        }, function (error) {
          if (error && (error.code === "unexpected_oversight_key" || error.code === "bad_rollover")) {
            throw error;
          }
          return keys;  // an unknown code, or no answer: the server says which, as before
        });
      })
      .then(function (keys) {
        if (!keys) return null;
        fields.append("lookup_id", P.b64u(keys.lookupId));
        fields.append("box_sk", P.b64u(keys.boxSecretKey));
        // The signing key's 32-byte seed: the portal signs messages sent from the thread.
        fields.append("sign_sk", P.b64u(keys.signSecretKey.subarray(0, 32)));
        keys.boxSecretKey.fill(0);
        keys.signSecretKey.fill(0);
        // "manual": the portal's 303 to the thread is not followed here but by the page.
        return fetch(form.action, {
          method: "POST", body: fields, credentials: "same-origin", redirect: "manual"
        });
      })
      .then(function (response) {
        if (!response) return;  // the checked thread is shown in this page
        if (response.type === "opaqueredirect") {  // signed in: the session cookie is set
          field.value = "";
          window.location.assign(form.getAttribute("data-next"));
        } else if (response.status === 422) {
          idle();
          problem("unknown");
        } else {
          sendAsPage(fields);
        }
      })
      .catch(function (error) {
        idle();
        var code = error && error.code;
        problem(code === "weak_kdf" ? "weak_kdf"
          : code === "unexpected_oversight_key" || code === "bad_rollover" ? "keys" : "failed");
      });
  });

  // The thread as the checks found it: replies that verified as the oversight body's,
  // a warning in the place of anything that did not, and one line each for a gap and
  // for tampering. The keys stay in this page's memory, for writing back, until it is left.
  var held = null;
  function forget() {
    if (held) { held.keys.boxSecretKey.fill(0); held.keys.signSecretKey.fill(0); }
    held = null;
  }

  function showChecked(thread, keys, config) {
    forget();
    held = { keys: keys, config: config };
    var section = document.getElementById("checked-thread");
    var words = section.querySelector('li[data-state="' + (thread.state || "received") + '"]');
    section.querySelector("[data-status]").textContent = words ? words.textContent : "";
    var list = section.querySelector("[data-items]");
    list.textContent = "";
    var hidden = { forged: 1, moved: 1, unvouched: 1, unreadable: 1 };
    thread.items.forEach(function (item) {
      if (hidden[item.verdict]) {
        list.appendChild(document.getElementById("warning-template").content.cloneNode(true));
        return;
      }
      var genuine = item.verdict === "ok" || item.verdict === "vouched";
      if (!genuine || item.from !== "oversight" || !item.document || !item.document.text) return;
      var reply = document.getElementById("reply-template").content.cloneNode(true);
      var meta = reply.querySelector(".meta");
      meta.textContent = meta.getAttribute("data-meta").replace("{date}", item.on);
      meta.removeAttribute("data-meta");
      reply.querySelector(".text").textContent = item.document.text;
      list.appendChild(reply);
    });
    var kinds = thread.findings.map(function (f) { return f.kind; });
    section.querySelector('[data-warning="gap"]').hidden = kinds.indexOf("gap") < 0;
    section.querySelector('[data-warning="tampered"]').hidden = !kinds.some(function (k) {
      return k === "out_of_order" || k === "replay" || k === "fork";
    });
    form.hidden = true;
    if (hint) hint.hidden = true;
    opening.hidden = true;
    section.hidden = false;
    section.querySelector("h2").focus();
  }

  var checkedForm = document.getElementById("checked-message");
  var sending = false;
  if (checkedForm) {
    checkedForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = checkedForm.querySelector("textarea");
      var sentNote = checkedForm.querySelector("[data-sent]");
      var failedNote = checkedForm.querySelector("[data-send-failed]");
      if (sending || !held || !text.value.trim()) return;  // a double click sends once
      sending = true;
      sentNote.hidden = true;
      failedNote.hidden = true;
      // Signed after the head this page verified; read again and signed anew on 409.
      P.sendMessage(held.keys, held.config, text.value, [])
        .then(function () { text.value = ""; sentNote.hidden = false; })
        .catch(function () { failedNote.hidden = false; })
        .then(function () { sending = false; });
    });
  }
  window.addEventListener("pagehide", forget);

  // Back to this page from the thread, restored as it was left: ready for a new try.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { idle(); field.value = ""; }
  });

  form.setAttribute("data-ready", "");  // from here on, the code stays in this page
})();
