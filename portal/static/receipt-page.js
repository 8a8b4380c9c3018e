// The receipt screen of a page that sealed the report itself (report form, kiosk): fills in
// the code, shows the urgent advice only for an urgent report, and checks the typed-back
// code here in the page. The receipt lives in a closure; leaving the page forgets it.
// With `warnBeforeLeaving`, the browser asks before the page is left or reloaded until the
// code has been typed back correctly. Never at the kiosk: its quick exit and idle end must
// clear the screen at once, whatever is on it.
(function () {
  "use strict";
  var P = window.LanthornProtocol;
  if (!P) return;

  function warn(event) {
    event.preventDefault();
    event.returnValue = "";  // older browsers ask only when this is set
  }

  function show(receipt, urgent, options) {
    if (options && options.warnBeforeLeaving) window.addEventListener("beforeunload", warn);
    var page = document.getElementById("browser-receipt");
    var groups = P.groups(receipt);
    var box = page.querySelector(".receipt");
    box.querySelectorAll(".group").forEach(function (span, i) { span.textContent = groups[i]; });
    box.setAttribute("aria-label", box.getAttribute("aria-label") + " " + groups.join(" "));
    var danger = page.querySelector("#receipt-urgent");
    if (danger) danger.hidden = !urgent;
    var check = document.getElementById("receipt-check");
    check.addEventListener("submit", function (event) {
      event.preventDefault();
      var typed = P.normaliseReceipt(check.querySelector("#typed").value);
      var same = typed.ok && typed.digits === receipt;
      check.querySelector(".ok").hidden = !same;
      check.querySelector(".field-error").hidden = same;
      if (same) window.removeEventListener("beforeunload", warn);  // they have it
    });
    return page;
  }

  Object.defineProperty(window, "LanthornReceipt", { value: Object.freeze({ show: show }) });
})();
