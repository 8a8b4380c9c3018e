// Lanthorn kiosk: Listen buttons (issue 19). Every screen, answer and message has a clip
// of its words in the page's language (portal/static/audio, made from the catalogues).
// Without JavaScript the browser's own audio controls play them; here each becomes one big
// "Listen" button. Nothing plays until the person at the kiosk touches Listen.
// The receipt is read by playing the ten digit clips in order, slowly, in groups of four:
// the server never makes or hears audio of a code.
(function () {
  "use strict";
  var DIGIT_GAP = 350;   // milliseconds between two digits
  var GROUP_GAP = 1100;  // and between two groups of four
  var reader = null;     // the <audio> that reads digits, one clip after another
  var reading = 0;       // which reading is current: a new one stops the one before

  function stopAll() {
    reading += 1;
    Array.prototype.forEach.call(document.querySelectorAll("audio"), function (audio) {
      if (!audio.paused) audio.pause();
    });
  }

  function play(audio) {
    stopAll();
    audio.currentTime = 0;
    var played = audio.play();
    if (played && played.catch) played.catch(function () {});
  }

  // The speaker picture, drawn from its shapes at the end of the page (kiosk/_listen.html
  // notes it there for every control this script replaces): decorative, so hidden from
  // screen readers, and sized before it is drawn.
  function speaker() {
    var svg = "http://www.w3.org/2000/svg";
    var picture = document.createElementNS(svg, "svg");
    picture.setAttribute("class", "icon");
    picture.setAttribute("width", "40");
    picture.setAttribute("height", "40");
    picture.setAttribute("aria-hidden", "true");
    var use = document.createElementNS(svg, "use");
    use.setAttribute("href", "#icon-speaker");
    picture.appendChild(use);
    return picture;
  }

  function makeButton(label, name) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "listen";
    if (name) button.setAttribute("aria-label", name);
    var words = document.createElement("span");
    words.textContent = label;
    button.appendChild(speaker());
    button.appendChild(words);
    return button;
  }

  function wait(milliseconds) {
    return new Promise(function (resolve) { window.setTimeout(resolve, milliseconds); });
  }

  function playOne(url, mine) {
    return new Promise(function (resolve) {
      if (mine !== reading) { resolve(false); return; }
      function done() {
        reader.removeEventListener("ended", done);
        reader.removeEventListener("error", done);
        resolve(mine === reading);
      }
      reader.addEventListener("ended", done);
      reader.addEventListener("error", done);
      reader.src = url;
      var played = reader.play();
      if (played && played.catch) played.catch(done);
    });
  }

  async function readDigits(button) {
    var target = document.querySelector(button.getAttribute("data-read"));
    if (!target) return;
    var text = target.value !== undefined ? target.value : target.textContent;
    var digits = (text || "").replace(/[^0-9]/g, "");
    var urls = button.getAttribute("data-digits").split(" ");
    stopAll();
    var mine = reading;
    if (!reader) {
      reader = document.createElement("audio");
      reader.className = "digit-reader";
      reader.preload = "none";
      document.body.appendChild(reader);
    }
    for (var i = 0; i < digits.length; i += 1) {
      if (i > 0) await wait(i % 4 === 0 ? GROUP_GAP : DIGIT_GAP);
      if (!(await playOne(urls[Number(digits[i])], mine))) return;
    }
  }

  function listenButton(audio) {
    var button = makeButton(audio.getAttribute("data-listen"), audio.getAttribute("aria-label"));
    if (audio.classList.contains("listen-screen")) button.classList.add("listen-screen");
    button.addEventListener("click", function () { play(audio); });
    audio.removeAttribute("controls");  // and so it is not turned into a button twice
    audio.hidden = true;
    audio.parentNode.insertBefore(button, audio);
  }

  // A Listen control the page left to this script (kiosk/_listen.html, `listen_by_script`):
  // the same button, and its clip's <audio>, in the same place, made when Listen is first
  // touched. Until then the page has no media element to make for it.
  function laterButton(holder) {
    var button = makeButton(holder.getAttribute("data-listen"), holder.getAttribute("aria-label"));
    if (holder.classList.contains("listen-screen")) button.classList.add("listen-screen");
    button.setAttribute("data-clip", holder.getAttribute("data-clip"));
    var audio = null;
    button.addEventListener("click", function () {
      if (!audio) {
        audio = document.createElement("audio");
        audio.preload = "none";
        audio.hidden = true;
        audio.src = button.getAttribute("data-clip");
        button.parentNode.insertBefore(audio, button.nextSibling);
      }
      play(audio);
    });
    holder.parentNode.replaceChild(button, holder);
  }

  function listenButtons(root) {
    Array.prototype.forEach.call(root.querySelectorAll("audio[data-listen][controls]"), listenButton);
    Array.prototype.forEach.call(root.querySelectorAll("span.listen[data-clip]"), laterButton);
  }

  function setUp() {
    listenButtons(document);
    // What the page's own scripts add later (the follow-up's warning in the place of a
    // message that did not verify) gets its button too.
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        Array.prototype.forEach.call(change.addedNodes, function (node) {
          if (node.nodeType === 1) listenButtons(node);
        });
      });
    }).observe(document.body, { childList: true, subtree: true });
    Array.prototype.forEach.call(document.querySelectorAll("button[data-read]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { readDigits(button); });
    });
    // The status of a report, filled in by kiosk-follow-up.js from the page's list of
    // statuses: its clip is the one for the item with the same words.
    var status = document.querySelector("[data-status]");
    var clips = document.querySelector(".status-clips");
    if (status && clips) {
      var button = makeButton(clips.getAttribute("data-listen"), "");
      button.classList.add("listen-status");
      button.addEventListener("click", function () {
        Array.prototype.forEach.call(document.querySelectorAll("li[data-state]"), function (item) {
          if (item.textContent.trim() !== status.textContent.trim()) return;
          var state = item.getAttribute("data-state");
          var audio = clips.querySelector('audio[data-state="' + state + '"]');
          if (audio) play(audio);
        });
      });
      status.parentNode.parentNode.insertBefore(button, status.parentNode.nextSibling);
    }
  }

  // The idle end and Exit now leave the page: nothing goes on speaking after them.
  window.addEventListener("pagehide", stopAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
