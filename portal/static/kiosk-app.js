// Lanthorn kiosk, JavaScript path: one question at a time on one page, answers held only in
// this page's memory, the report sealed here with lanthorn-protocol.js and sent to the
// portal's JSON API as ciphertext. No history entries, no storage: leaving (kiosk.js) replaces
// the page, and with it every answer, key and receipt.
// The sealing library is loaded by kiosk.js (LanthornKiosk.crypto) once the first answer is
// touched, not with the page, so the first screen and its Listen button wait for nothing.
(function () {
  "use strict";
  var app = document.getElementById("kiosk-app");
  var K = window.LanthornKiosk;
  if (!app || !K || !window.WebAssembly) return;
  var steps = Array.prototype.slice.call(app.querySelectorAll("section.step"));
  var order = steps.map(function (s) { return s.getAttribute("data-step"); });
  var answers = {};   // step -> value (and "describe" -> text); never leaves this page
  var english = {};   // step -> the English label, as the server path records it
  var shown = {};     // step -> the label as shown, for the summary

  function section(name) { return steps[order.indexOf(name)]; }

  function show(name) {
    steps.forEach(function (s) { s.hidden = s.getAttribute("data-step") !== name; });
    var heading = section(name).querySelector("h1");
    if (heading) heading.focus();
    window.scrollTo(0, 0);
  }

  function next(from) { show(order[order.indexOf(from) + 1]); }

  function fillSummary() {
    var check = section("check");
    ["category", "place", "when", "urgent"].forEach(function (name) {
      check.querySelector('[data-summary="' + name + '"]').textContent = shown[name] || "";
    });
    var words = (answers.describe || "").trim();
    var dd = check.querySelector('[data-summary="describe"]');
    dd.textContent = words;
    dd.hidden = !words;
    check.querySelector("[data-summary-words]").hidden = !words;
  }

  steps.forEach(function (step) {
    var name = step.getAttribute("data-step");
    step.querySelectorAll("button.choice").forEach(function (button) {
      button.addEventListener("click", function () {
        K.crypto().catch(function () {});  // ready long before Send; Send waits if not
        step.querySelectorAll("button.choice").forEach(function (b) { b.classList.remove("chosen"); });
        button.classList.add("chosen");
        answers[name] = button.value;
        english[name] = button.getAttribute("data-english");
        shown[name] = button.textContent.trim();
        step.querySelector(".error").hidden = true;
        next(name);
      });
    });
    var back = step.querySelector("button.back");
    if (back) back.addEventListener("click", function () { show(order[order.indexOf(name) - 1]); });
  });

  section("describe").querySelector("button.next").addEventListener("click", function () {
    answers.describe = section("describe").querySelector("textarea").value.trim().slice(0, 20000);
    fillSummary();
    next("describe");
  });

  var check = section("check");
  var send = check.querySelector("button.send");
  send.addEventListener("click", function () {
    var missing = ["category", "place", "when", "urgent"].filter(function (n) { return !answers[n]; });
    if (missing.length) {
      show(missing[0]);
      section(missing[0]).querySelector(".error").hidden = false;
      return;
    }
    var sealing = check.querySelector("#sealing");
    var failed = check.querySelector("#sealing-failed");
    send.disabled = true;
    failed.hidden = true;
    sealing.hidden = false;
    var fields = {
      channel: "kiosk",
      lang: app.getAttribute("data-lang"),
      category: answers.category,
      facility: app.getAttribute("data-facility"),
      location: english.place,
      occurred: english.when,
      subjects: "",
      witnesses: "",
      description: answers.describe || "",
      urgent: answers.urgent === "yes",
      identity: null
    };
    var refused = check.querySelectorAll("[data-refused]");
    refused.forEach(function (p) { p.hidden = true; });
    // The oversight fingerprint this kiosk's deployment pinned (kiosk.js), if any: keys
    // that do not lead to it are refused before anything is sealed.
    var pinned = K.pin;
    var P = null;
    K.crypto()
      .then(function (protocol) { P = protocol; return P.fetchConfig(); })
      .then(function (config) {
        return P.submitReport({ config: config, fields: fields, files: [], pin: pinned });
      })
      .then(function (sent) {
        answers = {}; english = {}; shown = {};
        window.LanthornReceipt.show(sent.receipt, fields.urgent);
        show("receipt");
      })
      .catch(function (error) {
        var code = error && error.code;
        var why = code === "weak_kdf" ? "weak_kdf"
          : (code === "unexpected_oversight_key" || code === "bad_rollover") ? "keys" : "";
        sealing.hidden = true;
        failed.hidden = !!why;
        refused.forEach(function (p) { p.hidden = p.getAttribute("data-refused") !== why; });
        // Keys this kiosk does not trust: nothing is sealed, and Send stays off.
        send.disabled = why === "keys";
      });
  });

  app.setAttribute("data-ready", "");  // the answers now stay in this page
})();
