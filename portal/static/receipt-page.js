// The receipt screen of a page that sealed the report itself (report form, kiosk): fills in
// the code, shows the urgent advice only for an urgent report, and checks the typed-back
// code here in the page. The receipt lives in a closure; leaving the page forgets it.
(function () {
  "use strict";
  var P = window.LanthornProtocol;
  if (!P) return;

  function show(receipt, urgent) {
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
    });
    return page;
  }

  Object.defineProperty(window, "LanthornReceipt", { value: Object.freeze({ show: show }) });
})();
