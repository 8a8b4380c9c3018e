// Lanthorn report form, JavaScript path (progressive enhancement): the receipt is made, the
// keys derived, the files encrypted and the report sealed here in the browser, and only
// ciphertext goes to the portal's JSON API. Without JavaScript, or if this browser cannot
// run it, the same form is sent to the server, which does the same steps in memory.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  var P = window.LanthornProtocol;
  if (!form || !P || !window.LanthornReceipt || !window.WebAssembly) return;
  if (form.querySelector("input[name=pending]")) return;  // files kept by the server last time
  // What only this script shows comes escaped in data-script-only attributes, not in the
  // page, where a text browser (which ignores `hidden`) would show it: put it in place.
  document.querySelectorAll("[data-script-only]").forEach(function (holder) {
    var parts = document.createElement("template");
    parts.innerHTML = holder.getAttribute("data-script-only");
    holder.replaceWith(parts.content);
  });
  var errors = document.getElementById("page-errors");
  var sealing = document.getElementById("sealing");
  var failed = document.getElementById("sealing-failed");
  var progress = sealing.querySelector("progress");

  function value(name) {
    var field = form.elements.namedItem(name);
    return field && typeof field.value === "string" ? field.value.trim() : "";
  }

  // The description's limit, counted as the server counts it: characters (code points) of
  // the trimmed text. The page states it; over it, its message stands by the field.
  var description = document.getElementById("description");
  var maxChars = Number(description.getAttribute("data-max-chars") || "0");

  function tooLong() {
    return maxChars > 0 && Array.from(value("description")).length > maxChars;
  }

  function problems() {
    var found = [];
    [["category", value("category")], ["urgent", value("urgent")],
     ["facility", value("facility")], ["description", value("description")]]
      .forEach(function (pair) {
        var element = document.getElementById(pair[0]);
        if (!pair[1]) found.push({ element: element, message: element.getAttribute("data-error") });
      });
    if (tooLong()) {
      found.push({ element: description, message: description.getAttribute("data-too-long") });
    }
    markTooLong();
    return found;
  }

  function markTooLong() {
    var note = document.getElementById("description-too-long");
    if (!tooLong()) {
      if (note) note.remove();
      description.removeAttribute("aria-invalid");
      description.removeAttribute("aria-describedby");
      return;
    }
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error";
      note.id = "description-too-long";
      note.textContent = description.getAttribute("data-too-long");
      description.parentNode.insertBefore(note, description);
    }
    description.setAttribute("aria-invalid", "true");
    description.setAttribute("aria-describedby", note.id);
  }

  // Once shown, the message goes as soon as the text is short enough again.
  description.addEventListener("input", function () {
    if (document.getElementById("description-too-long")) markTooLong();
  });

  function showProblems(found) {
    var list = errors.querySelector("ul");
    list.textContent = "";
    found.forEach(function (problem) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + problem.element.id;
      link.textContent = problem.message;
      item.appendChild(link);
      list.appendChild(item);
    });
    errors.hidden = false;
    errors.tabIndex = -1;
    errors.focus();
  }

  // Chromium keeps a sealed file in memory until it is sent; past a few hundred MiB it
  // fails. Larger attachments go with the form to the server, which encrypts as they stream.
  var browserLimit = Number(form.getAttribute("data-browser-limit") || "0");

  form.addEventListener("submit", function (event) {
    var chosen = Array.prototype.slice.call(form.elements.namedItem("attachments").files || []);
    var total = chosen.reduce(function (n, file) { return n + file.size; }, 0);
    if (browserLimit && total > browserLimit) return;  // the server path
    event.preventDefault();
    var found = problems();
    if (found.length) { showProblems(found); return; }
    errors.hidden = true;
    failed.hidden = true;
    sealing.hidden = false;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var files = Array.prototype.slice.call(form.elements.namedItem("attachments").files || []);
    if (files.length) sealing.querySelector(".sealing-files").hidden = false;
    var fields = {
      channel: form.getAttribute("data-channel"),
      lang: form.getAttribute("data-lang"),
      category: value("category"),
      facility: value("facility"),
      location: value("location"),
      occurred: value("occurred"),
      description: value("description"),
      subjects: value("subjects"),
      witnesses: value("witnesses"),
      urgent: value("urgent") === "yes",
      identity: value("identity") || null
    };
    P.ready
      .then(function () { return P.fetchConfig(); })
      .then(function (config) {
        return P.submitReport({
          config: config, fields: fields, files: files,
          onProgress: function (done, total) {
            progress.value = total ? Math.floor((100 * done) / total) : 100;
          }
        });
      })
      .then(function (sent) {
        form.reset();
        showReceipt(sent.receipt, fields.urgent);
      })
      .catch(function (error) {
        sealing.hidden = true;
        failed.hidden = false;
        // Too much text for one sealed document: said in the reader's language, as the
        // server path says it. Other reasons are the protocol library's own words.
        var code = error && error.code;
        var tooMuch = code === "too_large" && error.part === "document";
        // Protocol v2: a weaker key derivation than Lanthorn fixes (§19.5), or oversight
        // keys whose rollovers do not verify (§12.4): said in the reader's language.
        var refused = code === "weak_kdf" ? form.getAttribute("data-weak-kdf")
          : code === "bad_rollover" || code === "unexpected_oversight_key"
            ? form.getAttribute("data-keys-refused") : "";
        failed.querySelector(".sealing-reason").textContent = tooMuch
          ? form.getAttribute("data-too-much") : refused || (error && error.message) || "";
        button.disabled = false;
      });
  });

  function showReceipt(receipt, urgent) {
    // Leaving or reloading this page loses the receipt for good: the browser asks first,
    // until the reporter has typed it back correctly (receipt-page.js).
    var page = window.LanthornReceipt.show(receipt, urgent, { warnBeforeLeaving: true });
    document.getElementById("report-intake").hidden = true;
    sealing.hidden = true;
    page.hidden = false;
    window.scrollTo(0, 0);
    var heading = page.querySelector("h1");
    heading.tabIndex = -1;
    heading.focus();
  }

  form.setAttribute("data-ready", "");  // from here on, the report is sealed in this page
})();
