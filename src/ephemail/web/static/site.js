// ephemail: the little behaviour the pages need, with no inline script (the CSP forbids it).
(function () {
  "use strict";

  // <form data-confirm="Delete this mailbox?">: ask before an action that cannot be undone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <button data-copy="#id">: copy an element's text, and say so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(source); });
    } else {
      select(source);
      try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies */ }
    }
  });

  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Tabs: <div class="tabs" role="tablist"><button role="tab" aria-controls="panel">…
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab) return;
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  });
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = Array.prototype.slice.call(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
    var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    next.click();
  });

  // <span class="countdown" data-expires="epoch seconds">: time left, updated every second.
  function left(seconds) {
    if (seconds <= 0) return "expired";
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + String(m).padStart(2, "0") + "m";
    return m + ":" + String(s).padStart(2, "0");
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".countdown[data-expires]").forEach(function (node) {
      var seconds = Number(node.getAttribute("data-expires")) - now;
      node.textContent = left(seconds);
      node.classList.toggle("soon", seconds < 60);
    });
  }
  // Sign-up: preselect the browser's time zone when the list has it.
  function browserZone() {
    var select = document.querySelector("select[data-browser-zone]");
    if (!select || select.value !== "UTC") return;
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && select.querySelector('option[value="' + zone.replace(/"/g, "") + '"]')) select.value = zone;
    } catch (e) { /* keep UTC */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    browserZone();
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
