// The dashboard's only script (served as a file: the CSP forbids inline script). It follows
// the server's event stream and (1) appends each newly committed tick of the page's run to
// its timeline, (2) keeps the run's status and the running effect's line current, (3) marks
// a gate decided meanwhile, and (4) sends the gate forms without leaving the page, showing
// the server's answer in place. Text goes in with textContent only: nothing is parsed as
// HTML. EventSource reconnects by itself with Last-Event-ID; the server sends what was missed.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var conn = document.getElementById("conn");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function say(box, ok, text) {
    box.className = "outcome " + (ok ? "ok" : "error");
    box.textContent = text;
  }
  document.querySelectorAll("form.decide").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var card = form.closest("section.gate");
      var box = card.querySelector(".outcome");
      var buttons = card.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST",
        headers: { "x-loom-fetch": "1" },
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin"
      }).then(function (r) {
        return r.json().catch(function () { return { ok: false, message: "the server said " + r.status }; });
      }).then(function (a) {
        say(box, a.ok, a.message);
        if (a.ok) { card.classList.add("decided"); } else { buttons.forEach(function (b) { b.disabled = false; }); }
      }, function () {
        say(box, false, "The server did not answer; nothing is known to be recorded. Reload and look again.");
        buttons.forEach(function (b) { b.disabled = false; });
      });
    });
  });
  if (!live || !window.EventSource) { return; }
  var run = live.dataset.run ? Number(live.dataset.run) : null;
  var list = document.getElementById("timeline");
  var growing = list && list.dataset.newest === "true";
  var status = document.getElementById("status");
  var nticks = document.getElementById("nticks");
  var effect = document.getElementById("effect");
  var timer = null;
  function tick(e) {
    if (!growing || document.getElementById("t" + e.seq)) { return; }
    var li = el("li", "tick new");
    li.id = "t" + e.seq;
    li.dataset.seq = e.seq;
    var line = el("div", "line");
    line.appendChild(el("span", "seq", "#" + e.seq));
    // The stream spells a gate-opening tick `gateopen`; the pages say `gate-open`.
    var kind = e.kind === "gateopen" ? "gate-open" : e.kind;
    line.appendChild(el("span", "kind " + kind, kind));
    line.appendChild(el("span", "step", e.step || "–"));
    line.appendChild(el("span", "sum", e.summary));
    var open = el("a", "open", "open");
    open.href = "/runs/" + e.run + "/ticks/" + e.seq;
    line.appendChild(open);
    li.appendChild(line);
    list.appendChild(li);
    if (nticks) { nticks.textContent = e.seq; }
  }
  // The running effect's line: its step, what it does, its latest progress note, seconds.
  function running(step, what) {
    if (!effect) { return null; }
    var since = Date.now();
    var note = el("span", "muted");
    var clock = el("span", "muted", "0 s");
    effect.textContent = "";
    [el("span", "spinner"), document.createTextNode(" "), el("strong", null, step),
      document.createTextNode(": " + what + " "), note, document.createTextNode(" · "), clock]
      .forEach(function (n) { effect.appendChild(n); });
    clearInterval(timer);
    timer = setInterval(function () { clock.textContent = Math.round((Date.now() - since) / 1000) + " s"; }, 1000);
    return note;
  }
  var note = null;
  function onmessage(m) {
    var e = JSON.parse(m.data);
    if (e.event === "effect-started") { note = running(e.step, e.what); return; }
    if (e.event === "effect-progress") {
      if (!note) { note = running(e.step, "working"); }
      if (note) { note.textContent = "— " + e.note; }
      return;
    }
    if (e.event === "effect-finished") { clearInterval(timer); note = null; if (effect) { effect.textContent = ""; } return; }
    if (run !== null && e.run !== run) { return; }
    if (e.event === "tick-committed") { tick(e); }
    else if (e.event === "run-status-changed" && status) {
      status.textContent = "";
      status.appendChild(el("span", "badge " + e.status, e.status));
      var why = document.getElementById("why");
      if (why) { why.textContent = e.reason || ""; why.hidden = !e.reason; }
    } else if (e.event === "gate-decided") {
      document.querySelectorAll('section.gate[data-run="' + e.run + '"][data-gate="' + e.gate + '"]').forEach(function (card) {
        var box = card.querySelector(".outcome");
        if (!box.textContent) { say(box, true, (e.approved ? "Approved" : "Rejected") + " by " + e.by + " via " + e.transport + "."); }
        card.classList.add("decided");
      });
    } else if (e.event === "gate-opened" && !document.querySelector('section.gate[data-gate="' + e.gate + '"]')) {
      var main = document.getElementById("main");
      var p = el("p", "callout warn", "Gate " + e.name + " opened for a " + e.decider + " to decide. ");
      var a = el("a", null, "Open the gate inbox");
      a.href = "/gates";
      p.appendChild(a);
      p.setAttribute("role", "status");
      main.insertBefore(p, main.firstChild.nextSibling);
    }
  }
  // A stream per shown page, closed when the page is left: a browser keeps only a few
  // connections per server, and a page kept in its back/forward cache would hold one.
  var events = null;
  var last = live.dataset.last || "0";
  function connect() {
    events = new EventSource("/web/events?after=" + encodeURIComponent(last));
    events.onopen = function () { if (conn) { conn.className = "conn live"; conn.textContent = "live"; } };
    events.onerror = function () { if (conn) { conn.className = "conn down"; conn.textContent = "reconnecting…"; } };
    events.onmessage = function (m) {
      if (m.lastEventId) { last = m.lastEventId; }
      onmessage(m);
    };
  }
  window.addEventListener("pagehide", function () { if (events) { events.close(); events = null; } });
  window.addEventListener("pageshow", function () { if (!events) { connect(); } });
  connect();
})();
