// Lanthorn kiosk follow-up, JavaScript path: the code typed here is turned into keys in this
// page, the thread is fetched with a signed request and the answers opened here. The code
// never leaves the kiosk; leaving the page (Finish, Exit now, the idle end) forgets it.
(function () {
  "use strict";
  var form = document.getElementById("follow-up-form");
  var P = window.LanthornProtocol;
  if (!form || !P || !window.WebAssembly) return;
  var start = document.getElementById("follow-up");
  var answers = document.getElementById("answers");
  var opening = document.getElementById("opening");
  var button = form.querySelector("button[type=submit]");

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
    start.hidden = true;
    answers.hidden = false;
    answers.querySelector("h1").focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = form.querySelector("#receipt");
    var typed = P.normaliseReceipt(field.value);
    if (!typed.ok) { problem(typed.problem); return; }
    problem("");
    button.disabled = true;
    opening.hidden = false;
    P.ready
      .then(function () { return P.fetchConfig(); })
      .then(function (config) { return P.readThread(typed.digits, config); })
      .then(function (thread) { field.value = ""; show(thread); })
      .catch(function (error) { problem(error && error.status === 401 ? "unknown" : "failed"); })
      .then(function () { button.disabled = false; opening.hidden = true; });
  });
  form.setAttribute("data-ready", "");
})();
