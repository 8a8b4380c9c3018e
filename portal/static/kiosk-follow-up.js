// Lanthorn kiosk follow-up, JavaScript path: the code typed here is turned into keys in this
// page, the thread is fetched with a signed request and the answers opened here; what the
// prisoner writes back is sealed to the oversight body here and sent signed with the same
// keys. The code never leaves the kiosk and is not kept: only the keys are, in this page's
// memory, until "Sent" or leaving the page (Finish, Exit now, the idle end) forgets them.
(function () {
  "use strict";
  var form = document.getElementById("follow-up-form");
  var P = window.LanthornProtocol;
  if (!form || !P || !window.WebAssembly) return;
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

  function show(thread) {
    var words = answers.querySelector('li[data-state="' + thread.status.state + '"]');
    answers.querySelector("[data-status]").textContent =
      words ? words.textContent : thread.status.state;
    var list = answers.querySelector("[data-replies]");
    var template = document.getElementById("reply-template");
    var replies = thread.items.filter(function (item) {
      return item.from === "oversight" && item.document;
    });
    replies.forEach(function (item) {
      var reply = template.content.cloneNode(true);
      var meta = reply.querySelector(".meta");
      meta.textContent = meta.getAttribute("data-meta").replace("{date}", item.on);
      meta.removeAttribute("data-meta");
      reply.querySelector(".text").textContent = item.document.text;
      list.appendChild(reply);
    });
    answers.querySelector("[data-none]").hidden = replies.length > 0;
    screen(answers);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = form.querySelector("#receipt");
    var typed = P.normaliseReceipt(field.value);
    if (!typed.ok) { problem(typed.problem); return; }
    problem("");
    button.disabled = true;
    opening.hidden = false;
    var config = null;
    P.ready
      .then(function () { return P.fetchConfig(); })
      .then(function (got) { config = got; return P.deriveKeys(typed.digits, config); })
      .then(function (keys) {
        field.value = "";
        forget();
        held = { keys: keys, config: config };
        return P.readThread(keys, config);
      })
      .then(show)
      .catch(function (error) {
        forget();
        problem(error && error.status === 401 ? "unknown" : "failed");
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
    P.sendMessage(held.keys, held.config, message.value.trim(), [])
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
