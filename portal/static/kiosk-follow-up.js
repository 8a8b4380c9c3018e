// Lanthorn kiosk follow-up, JavaScript path: the code typed here is turned into keys in this
// page, the thread is fetched with a signed request, every item and the chain are checked
// against the oversight keys this kiosk pinned (protocol v2), and only answers that verify
// are shown; what the prisoner writes back is sealed to the oversight body here, signed
// into the chain and sent signed with the same keys. The code never leaves the kiosk and is not kept: only the keys are, in this page's
// memory, until "Sent" or leaving the page (Finish, Exit now, the idle end) forgets them.
(function () {
  "use strict";
  var form = document.getElementById("follow-up-form");
  var K = window.LanthornKiosk;
  if (!form || !K || !window.WebAssembly) return;
  var P = null; // LanthornProtocol, once kiosk.js has loaded it (K.crypto): not with the page
  var start = document.getElementById("follow-up");
  var answers = document.getElementById("answers");
  var write = document.getElementById("write");
  var check = document.getElementById("write-check");
  var sent = document.getElementById("write-sent");
  var opening = document.getElementById("opening");
  var button = form.querySelector("button[type=submit]");
  var held = null; // {keys, config} once the code opened the thread

  function forget() {
    if (held) {
      held.keys.boxSecretKey.fill(0);
      held.keys.signSecretKey.fill(0);
    }
    held = null;
  }

  function screen(section) {
    [start, answers, write, check, sent].forEach(function (s) { s.hidden = s !== section; });
    var heading = section.querySelector("h1");
    if (heading) heading.focus();
    window.scrollTo(0, 0);
  }

  function problem(name) {
    start.querySelectorAll("[data-problem]").forEach(function (p) {
      p.hidden = p.getAttribute("data-problem") !== name;
    });
    start.querySelectorAll(".error:not([data-problem])").forEach(function (p) { p.hidden = true; });
  }

  // The oversight fingerprint this kiosk's deployment pinned (kiosk.js reads it from the
  // address the kiosk browser was started with; deploy/kiosk/README.md), or null.
  function pin() {
    return K.pin;
  }

  // What the checks found, in the kiosk's words: a warning in the place of each item that
  // did not verify (never its words), and one line each for a gap, tampering and a key
  // change. Only items that verified as the oversight body's are shown as answers.
  function show(thread) {
    var state = thread.state || "received";  // the verified items' word, not the portal's
    var words = answers.querySelector('li[data-state="' + state + '"]');
    answers.querySelector("[data-status]").textContent = words ? words.textContent : "";
    var list = answers.querySelector("[data-replies]");
    list.textContent = "";
    var template = document.getElementById("reply-template");
    var warning = document.getElementById("warning-template");
    var shown = 0;
    var hidden = { forged: 1, moved: 1, unvouched: 1, unreadable: 1 };
    thread.items.forEach(function (item) {
      if (hidden[item.verdict]) {
        list.appendChild(warning.content.cloneNode(true));
        return;
      }
      var genuine = item.verdict === "ok" || item.verdict === "vouched";
      if (!genuine || item.from !== "oversight" || !item.document || !item.document.text) return;
      var reply = template.content.cloneNode(true);
      var meta = reply.querySelector(".meta");
      meta.textContent = meta.getAttribute("data-meta").replace("{date}", item.on);
      meta.removeAttribute("data-meta");
      reply.querySelector(".text").textContent = item.document.text;
      list.appendChild(reply);
      shown++;
    });
    var kinds = thread.findings.map(function (f) { return f.kind; });
    answers.querySelector('[data-warning="gap"]').hidden = kinds.indexOf("gap") < 0;
    answers.querySelector('[data-warning="tampered"]').hidden = !kinds.some(function (k) {
      return k === "out_of_order" || k === "replay" || k === "fork";
    });
    var changed = answers.querySelector('[data-warning="changed"]');
    changed.hidden = !thread.oversight.changedOn;
    if (thread.oversight.changedOn) {
      changed.textContent = changed.getAttribute("data-text")
        .replace("{date}", thread.oversight.changedOn)
        .replace("{fingerprint}", thread.oversight.current.fingerprint);
    }
    answers.querySelector("[data-none]").hidden = shown > 0 || list.childNodes.length > 0;
    screen(answers);
  }

  function reason(error) {
    var code = error && error.code;
    if (code === "unexpected_oversight_key" || code === "bad_rollover" || code === "bad_config") {
      return "keys";
    }
    if (code === "weak_kdf") return "weak_kdf";
    return error && error.status === 401 ? "unknown" : "failed";
  }

  // The sealing library starts loading as soon as the code is being typed: it is ready long
  // before the last of twenty numbers. "Show answers" waits for it if it is not.
  var field = form.querySelector("#receipt");
  function prepare() { K.crypto().catch(function () {}); }
  field.addEventListener("focus", prepare);
  field.addEventListener("input", prepare);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    var typed = null;
    var config = null;
    K.crypto()
      .then(function (protocol) {
        P = protocol;
        typed = P.normaliseReceipt(field.value);
        if (!typed.ok) {
          var mistake = new Error("a typing mistake in the code");
          mistake.typing = typed.problem;  // "length" or "check": said on this screen
          throw mistake;
        }
        problem("");
        opening.hidden = false;
        return P.fetchConfig();
      })
      .then(function (got) {
        config = got;
        P.oversightOf(config, pin());  // keys this kiosk does not trust: stop before deriving
        return P.deriveKeys(typed.digits, config);
      })
      .then(function (keys) {
        field.value = "";
        forget();
        held = { keys: keys, config: config };
        return P.readThread(keys, config, { pin: pin() });
      })
      .then(show)
      .catch(function (error) {
        forget();
        problem(error && error.typing ? error.typing : reason(error));
      })
      .then(function () { button.disabled = false; opening.hidden = true; });
  });

  // Writing back: write, check, send, one screen each, as without JavaScript.
  var message = write.querySelector("textarea");
  var send = check.querySelector("button.send");
  var sending = false;

  answers.querySelector("[data-write-back]").addEventListener("click", function () {
    screen(write);
  });
  write.querySelector("button.back").addEventListener("click", function () { screen(answers); });
  write.querySelector("button.next").addEventListener("click", function () {
    var words = message.value.trim();
    write.querySelector(".error").hidden = !!words;
    if (!words) { message.focus(); return; }
    check.querySelector("[data-message]").textContent = words;
    check.querySelector("#sealing-failed").hidden = true;
    screen(check);
  });
  check.querySelector("button.back").addEventListener("click", function () {
    if (!sending) screen(write);
  });
  send.addEventListener("click", function () {
    if (sending || !held) return; // a second tap while the first is on its way sends nothing
    sending = true;
    send.disabled = true;
    var sealing = check.querySelector("#sealing");
    var failed = check.querySelector("#sealing-failed");
    failed.hidden = true;
    sealing.hidden = false;
    P.sendMessage(held.keys, held.config, message.value.trim(), [], { pin: pin() })
      .then(function () {
        forget();
        message.value = "";
        check.querySelector("[data-message]").textContent = "";
        screen(sent);
      })
      .catch(function () {
        failed.hidden = false;
        send.disabled = false;
      })
      .then(function () {
        sealing.hidden = true;
        sending = false;
      });
  });

  window.addEventListener("pagehide", forget);
  form.setAttribute("data-ready", "");
})();
