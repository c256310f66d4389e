// The run page's live timeline: each tick of this run committed after the page was
// rendered is appended as it arrives (textContent only, so nothing is parsed as HTML).
// EventSource reconnects by itself and sends Last-Event-ID; the server sends what was
// missed, so nothing is appended twice.
(function () {
  "use strict";
  var list = document.getElementById("timeline");
  if (!list) {
    return;
  }
  var run = Number(list.dataset.run);
  var status = document.getElementById("status");
  var events = new EventSource("/web/events?after=" + encodeURIComponent(list.dataset.last));
  events.onmessage = function (m) {
    var e = JSON.parse(m.data);
    if (e.run !== run) {
      return;
    }
    if (e.event === "tick-committed") {
      var li = document.createElement("li");
      li.textContent = "#" + e.seq + " " + e.kind + " " + (e.step || "-") + ": " + e.summary;
      list.appendChild(li);
    } else if (e.event === "run-status-changed" && status) {
      status.textContent = e.status;
    }
  };
})();
