// Lanthorn kiosk: clear the screen after a quiet spell, warning first so the person at the
// kiosk can say they are still there (WCAG 2.2.1: at least 20 seconds to respond).
// Leaving uses location.replace, so Back cannot return to the last person's screens.
(function () {
  "use strict";
  var idle = Number(document.body.getAttribute("data-idle") || "90") * 1000;
  var warnFor = 20000;
  var warning = document.getElementById("idle-warning");
  var warnTimer = 0;
  var exitTimer = 0;

  function leave() {
    window.location.replace("/kiosk/exit");
  }

  function warn() {
    if (!warning) return;
    warning.hidden = false;
    var button = warning.querySelector("button");
    if (button) button.focus();
  }

  function reset() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(exitTimer);
    if (warning) warning.hidden = true;
    warnTimer = window.setTimeout(warn, Math.max(0, idle - warnFor));
    exitTimer = window.setTimeout(leave, idle);
  }

  ["pointerdown", "keydown", "input", "touchstart"].forEach(function (name) {
    document.addEventListener(name, reset, { passive: true });
  });
  var exit = document.querySelector("a.quick-exit");
  if (exit) {
    exit.addEventListener("click", function (event) {
      event.preventDefault();
      leave();
    });
  }
  // With JavaScript (always, on a kiosk) the questions run in one page that seals the
  // report itself; the language buttons post to the server's step pages only without it.
  var languages = document.querySelector("form.choices button[name=lang]");
  if (languages && window.WebAssembly) {
    languages.form.addEventListener("submit", function (event) {
      var chosen = event.submitter && event.submitter.value;
      if (!chosen) return;
      event.preventDefault();
      window.location.replace("/kiosk/report?lang=" + encodeURIComponent(chosen));
    });
  }
  reset();
})();
