// ephemail: the live inbox. New mail arrives over Server-Sent Events from the page's own
// stream (<base>/events); each change fetches the list again, rendered by the server.
(function () {
  "use strict";

  var root = document.getElementById("inbox");
  if (root) live(root);

  // "Show remote images" reloads only the message frame (its target); then say it is done.
  var show = document.getElementById("show-remote");
  if (show) {
    show.addEventListener("click", function () {
      var note = document.getElementById("remote-note");
      if (note) note.querySelector("p").textContent = "Remote images are shown for this message.";
      show.hidden = true;
    });
  }

  function live(root) {
    var list = document.getElementById("message-list");
    var status = document.getElementById("live-status");
    var announce = document.getElementById("announce");
    var shared = root.hasAttribute("data-shared");
    var url = root.getAttribute("data-events") + "?since=" + encodeURIComponent(root.getAttribute("data-since") || "0");
    var source = new EventSource(url);
    var timer = null;
    var ended = false;

    function setStatus(state, text) {
      status.setAttribute("data-state", state);
      status.textContent = text;
    }

    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(root.getAttribute("data-list"), { credentials: "same-origin", headers: { Accept: "text/html" } })
          .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
          .then(function (html) { list.innerHTML = html; })
          .catch(function () { /* the stream's next event tries again */ });
      }, 120);
    }

    function end(text) {
      ended = true;
      source.close();
      if (shared) { window.location.reload(); return; }  // the server says what happened
      setStatus("ended", "Closed");
      var note = document.getElementById("gone-note");
      note.textContent = text;
      note.hidden = false;
    }

    source.addEventListener("open", function () { setStatus("live", "Live: new mail appears here"); });
    source.addEventListener("error", function () {
      if (!ended) setStatus("retry", source.readyState === 2 ? "Offline: reload the page" : "Reconnecting…");
    });
    source.addEventListener("message.received", function (event) {
      refresh();
      try {
        var data = JSON.parse(event.data);
        announce.textContent = "New message from " + (data.from || data.from_email || "unknown") + ": " + (data.subject || "(no subject)");
      } catch (e) { /* the list still refreshes */ }
    });
    source.addEventListener("message.deleted", refresh);
    source.addEventListener("mailbox.renamed", function (event) {
      if (shared) { end(""); return; }
      var data = JSON.parse(event.data);
      source.close();
      window.location.assign("/mailboxes/" + encodeURIComponent(data.mailbox));
    });
    source.addEventListener("mailbox.deleted", function () { end("This mailbox was deleted, with its mail."); });
    source.addEventListener("mailbox.expired", function () { end("This mailbox has expired; its mail is being removed."); });
  }
})();
