// tfa: the little JavaScript there is. Everything works without it.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="text"> or data-copy-target="#id".
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    var text = button.dataset.copy;
    if (text === undefined) {
      var target = document.querySelector(button.dataset.copyTarget);
      text = target ? target.innerText : "";
    }
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text.replace(/\s+/g, button.dataset.copyJoin || "")).then(function () {
        var old = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = old; }, 1500);
      });
    }
  });

  // Print buttons.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { event.preventDefault(); window.print(); }
  });

  // Countdowns: <span data-countdown="N" data-done-text="Resend code"> ... enables [data-countdown-enables].
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el.dataset.countdownStarted) return;
      el.dataset.countdownStarted = "1";
      var remaining = parseInt(el.dataset.countdown, 10);
      var button = el.id ? document.querySelector("[data-countdown-enables='" + el.id + "']") : null;
      function tick() {
        if (remaining <= 0) {
          el.textContent = "";
          if (button) button.disabled = false;
          return;
        }
        el.textContent = "Resend code in " + remaining + " second" + (remaining === 1 ? "" : "s");
        remaining -= 1;
        setTimeout(tick, 1000);
      }
      tick();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { startCountdowns(document); });
  document.addEventListener("htmx:load", function (event) { startCountdowns(event.target); });

  // An HTMX request that failed without a fragment to swap: show its message.
  document.addEventListener("htmx:responseError", function (event) {
    var region = document.getElementById("flashes");
    if (!region) return;
    var xhr = event.detail.xhr;
    var text = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0 ? xhr.responseText
      : "The request failed (" + xhr.status + "). Reload the page and try again.";
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = text;
    region.replaceChildren(p);
  });
  document.addEventListener("htmx:sendError", function () {
    var region = document.getElementById("flashes");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = "The server could not be reached. Check your connection and try again.";
    region.replaceChildren(p);
  });
})();

// Controls that only matter without JavaScript (the Save button next to a switch) hide once it runs.
document.documentElement.classList.add("js");
