// autoheal's dashboard: times in the browser's zone, and live updates from
// the API's event stream (GET /api/v1/stream). No polling: EventSource
// reconnects by itself, resuming after the last event it saw. Everything
// written into the page goes through textContent, never as HTML.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = t.textContent;
        t.textContent = d.toLocaleString();
      }
    });
  }

  function setPhase(name, phase) {
    document.querySelectorAll("[data-phase-of]").forEach(function (el) {
      if (el.getAttribute("data-phase-of") !== name) return;
      el.textContent = phase;
      el.className = "phase phase-" + phase;
    });
  }

  function count(phase, delta) {
    var el = document.querySelector('[data-phase-count="' + phase + '"]');
    if (el) el.textContent = String(Math.max(0, (parseInt(el.textContent, 10) || 0) + delta));
  }

  // A row's detail and latency, read again after its phase changed: at most
  // one request in flight per target, however many changes arrive.
  var refreshing = {};
  function refreshRow(name) {
    var row = null;
    document.querySelectorAll("tr[data-target]").forEach(function (r) {
      if (r.getAttribute("data-target") === name) row = r;
    });
    if (!row || refreshing[name]) return;
    refreshing[name] = true;
    fetch("/api/v1/targets/" + encodeURIComponent(name), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !body.target) return;
        var t = body.target;
        var detail = row.querySelector(".detail");
        if (detail) detail.textContent = t.last_detail || "";
        var latency = row.querySelector(".latency");
        if (latency) latency.textContent = t.last_latency_ms == null ? "" : t.last_latency_ms + " ms";
      })
      .catch(function () {})
      .then(function () { delete refreshing[name]; });
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function addEvent(e) {
    var body = document.getElementById("live-events");
    if (!body) return;
    var want = function (attr, value) {
      var w = body.getAttribute(attr) || "";
      return w === "" || w === (value || "");
    };
    if (!want("data-target", e.target) || !want("data-kind", e.kind) || !want("data-actor", e.actor)) return;
    var tr = document.createElement("tr");
    tr.className = "fresh";
    var when = document.createElement("td");
    var t = document.createElement("time");
    t.setAttribute("datetime", new Date(e.at).toISOString());
    t.textContent = new Date(e.at).toLocaleString();
    when.appendChild(t);
    tr.appendChild(when);
    if (body.getAttribute("data-columns") === "full") {
      var target = document.createElement("td");
      if (e.target) {
        var a = document.createElement("a");
        a.href = "/targets/" + encodeURIComponent(e.target);
        a.textContent = e.target;
        target.appendChild(a);
      }
      tr.appendChild(target);
    }
    tr.appendChild(cell(e.kind));
    var what = cell(e.message);
    if (e.incident_id != null) {
      var link = document.createElement("a");
      link.href = "/incidents/" + encodeURIComponent(e.incident_id);
      link.textContent = "incident";
      what.appendChild(document.createTextNode(" "));
      what.appendChild(link);
    }
    tr.appendChild(what);
    tr.appendChild(cell(e.actor));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > 200) body.removeChild(body.lastChild);
  }

  function status(state, text) {
    document.body.setAttribute("data-stream", state);
    var el = document.getElementById("live");
    if (el) el.textContent = text;
  }

  var lastId = null;
  function live() {
    if (document.body.getAttribute("data-live") !== "on" || !window.EventSource) return;
    var es = new EventSource(lastId ? "/api/v1/stream?after=" + encodeURIComponent(lastId) : "/api/v1/stream");
    status("connecting", "connecting");
    es.addEventListener("open", function () { status("open", "live"); });
    es.addEventListener("error", function () {
      if (es.readyState !== EventSource.CLOSED) status("connecting", "reconnecting");
    });
    es.addEventListener("target", function (m) {
      var c;
      try { c = JSON.parse(m.data); } catch (err) { return; }
      setPhase(c.target, c.to);
      count(c.from, -1);
      count(c.to, +1);
      refreshRow(c.target);
    });
    es.addEventListener("audit", function (m) {
      if (m.lastEventId) lastId = m.lastEventId;
      try { addEvent(JSON.parse(m.data)); } catch (err) { /* not ours to show */ }
    });
    es.addEventListener("lagged", function () {
      // Phase changes were missed: this page's picture is stale.
      window.location.reload();
    });
    es.addEventListener("end", function () {
      es.close();
      status("ended", "signed out");
    });
    // A page left (or kept in the back/forward cache) lets its stream go:
    // browsers allow only a few connections per server, and a stream
    // held by a hidden page would starve the next one. Coming back opens
    // a new one, which starts after the last event this page saw.
    window.addEventListener("pagehide", function () { es.close(); }, { once: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    live();
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) live();
  });
})();
