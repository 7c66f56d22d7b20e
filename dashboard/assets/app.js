// Whizbang policy dashboard. No dependencies; works offline.
(function () {
  "use strict";

  var MAX_POINTS = 600, MAX_AGE_MS = 10 * 60 * 1000;
  var SVGNS = "http://www.w3.org/2000/svg";
  var STATUS_RANK = { healthy: 0, degraded: 1, unhealthy: 2 };
  var STATE_RANK = { closed: 0, "half-open": 1, open: 2, isolated: 3 };

  var history = [];       // ring of {t: ms, snap}
  var last = null;        // last snapshot
  var receivedAt = 0;
  var sortKey = "status", sortDir = -1;
  var selected = null;    // id of the selected policy
  var api = { updates: 0, last: null, history: history };
  window.whizbang = api;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function idOf(p) { return p.kind + "/" + p.key; }

  // Formatting.
  function fmtNum(x, d) {
    if (x === null || x === undefined || isNaN(x)) return "—";
    if (Math.abs(x) >= 1000) return (x / 1000).toFixed(1) + "k";
    return x.toFixed(d === undefined ? 1 : d);
  }
  function fmtPct(x) { return (x === null || x === undefined || x < 0) ? "—" : (x * 100).toFixed(1) + "%"; }
  function fmtMs(x) {
    if (x === null || x === undefined) return "—";
    if (x >= 1000) return (x / 1000).toFixed(2) + " s";
    if (x >= 10) return x.toFixed(0) + " ms";
    if (x >= 1) return x.toFixed(1) + " ms";
    return (x * 1000).toFixed(0) + " µs";
  }
  function fmtDur(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s";
    return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
  }

  function successRatio(p) {
    if (p.rate > 0) return 1 - p.failureRatio;
    if (p.executions > 0) return p.successful / p.executions;
    return null;
  }

  // A number per kind for the "State" column, to sort by.
  function detailValue(p) {
    if (p.breaker) return STATE_RANK[p.breaker.state] || 0;
    if (p.rateLimit) return p.rateLimit.utilization;
    if (p.cache) return p.cache.hitRate;
    if (p.bulkhead) return p.bulkhead.saturation + p.bulkhead.queue;
    return -1;
  }
  function sortValue(p, key) {
    switch (key) {
      case "status": return STATUS_RANK[p.status];
      case "key": return p.key.toLowerCase();
      case "kind": return p.kind;
      case "rate": return p.rate;
      case "success": var s = successRatio(p); return s === null ? 2 : s;
      case "p50": return p.latency ? p.latency.p50 : -1;
      case "p95": return p.latency ? p.latency.p95 : -1;
      case "p99": return p.latency ? p.latency.p99 : -1;
      case "detail": return detailValue(p);
    }
    return 0;
  }

  function meter(frac, warnAt, failAt) {
    var m = el("span", "meter"), bar = el("span");
    frac = Math.max(0, Math.min(1, frac || 0));
    bar.style.width = (frac * 100).toFixed(0) + "%";
    if (failAt !== undefined && frac >= failAt) m.className += " fail";
    else if (warnAt !== undefined && frac >= warnAt) m.className += " warn";
    m.appendChild(bar);
    return m;
  }

  function stateCell(td, p) {
    var age = (Date.now() - receivedAt) / 1000;
    if (p.breaker) {
      var b = p.breaker;
      td.appendChild(el("span", "state state-" + b.state, b.state));
      td.appendChild(document.createTextNode(" for " + (b.atLeast ? "≥ " : "") + fmtDur(b.stateSeconds + age)));
      td.dataset.state = b.state;
    } else if (p.rateLimit) {
      if (p.rateLimit.known) {
        td.appendChild(meter(p.rateLimit.utilization, 0.8, 0.95));
        td.appendChild(document.createTextNode(fmtPct(p.rateLimit.utilization) + " used"));
      } else td.textContent = "rejections " + fmtNum(p.rejectionRate) + "/s";
    } else if (p.cache) {
      td.appendChild(meter(p.cache.hitRate));
      td.appendChild(document.createTextNode("hit " + fmtPct(p.cache.hitRate) + (p.cache.known ? " · " + p.cache.entries + " entries" : "")));
    } else if (p.bulkhead) {
      var bh = p.bulkhead;
      td.appendChild(meter(bh.saturation, 0.8, 1));
      td.appendChild(document.createTextNode(bh.inFlight + (bh.capacity ? "/" + bh.capacity : "") + " busy · queue " + bh.queue));
    } else {
      var extra = [];
      if (p.retryAttempts) extra.push(p.retryAttempts + " retries");
      if (p.timeouts) extra.push(p.timeouts + " timeouts");
      if (p.fallbacks) extra.push(p.fallbacks + " fallbacks");
      if (p.rejections) extra.push(p.rejections + " rejected");
      td.textContent = extra.join(" · ");
    }
  }

  function actionsCell(td, p) {
    if (!last || !last.controls) return;
    // Disable and enable act on what runs calls: a wrap (a policy set) or
    // a policy run on its own, not on a policy inside a wrap of its key.
    var acts = p.kind === "circuitbreaker" ? ["isolate", "reset"] : [];
    if (p.kind === "wrap" || !wrapKeys(last)[p.key]) acts.push("disable", "enable");
    acts.forEach(function (a) {
      var b = el("button", "act act-" + a, a);
      b.type = "button";
      b.dataset.action = a;
      b.dataset.policy = p.key;
      td.appendChild(b);
    });
  }

  // Charts.
  function series(id, pick) {
    var out = [];
    for (var i = 0; i < history.length; i++) {
      var h = history[i], v = pick(h.snap, h.byId[id]);
      out.push({ t: h.t, v: v });
    }
    return out;
  }

  // lineChart draws lines of [{t, v}] points (v null: gap) on svg, with a
  // fixed time axis of the ring's span and a y axis from 0.
  function lineChart(svg, lines, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 600, H = 120, top = 6, bottom = 14, left = 2;
    var now = history.length ? history[history.length - 1].t : Date.now();
    var t0 = history.length ? history[0].t : now;
    var span = Math.max(now - t0, 1000);
    var ymax = opts.max || 0;
    if (!opts.max) lines.forEach(function (l) { l.points.forEach(function (p) { if (p.v !== null && p.v > ymax) ymax = p.v; }); });
    if (!(ymax > 0)) ymax = 1;
    if (!opts.max) ymax *= 1.1;
    function x(t) { return left + (W - left - 2) * (t - t0) / span; }
    function y(v) { return top + (H - top - bottom) * (1 - v / ymax); }
    [0, 0.5, 1].forEach(function (f) {
      svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: y(ymax * f), y2: y(ymax * f), "class": "grid" }));
    });
    var lbl = svgEl("text", { x: 4, y: top + 9, "class": "axis" });
    lbl.textContent = (opts.fmt || fmtNum)(ymax);
    svg.appendChild(lbl);
    var tl = svgEl("text", { x: 4, y: H - 2, "class": "axis" });
    tl.textContent = "−" + fmtDur(span / 1000);
    svg.appendChild(tl);
    if (opts.bands) opts.bands(svg, x, t0, now, top, H - bottom);
    lines.forEach(function (l) {
      var d = "", pen = false;
      l.points.forEach(function (p) {
        if (p.v === null || p.v === undefined || isNaN(p.v)) { pen = false; return; }
        d += (pen ? "L" : "M") + x(p.t).toFixed(1) + " " + y(Math.min(p.v, ymax)).toFixed(1);
        pen = true;
      });
      if (d) svg.appendChild(svgEl("path", { d: d, "class": "l " + l.cls }));
    });
  }

  function spark(id) {
    var svg = svgEl("svg", { "class": "spark", viewBox: "0 0 120 24", preserveAspectRatio: "none" });
    // Executions (green) and failures (red); for a policy that runs no
    // calls of its own (one inside a wrap), its rejections (red).
    var cur = last && last.policies.filter(function (q) { return idOf(q) === id; })[0];
    var calls = !cur || cur.executions > 0;
    var pts = calls ? series(id, function (s, p) { return p ? p.rate : null; }) : [];
    var fails = series(id, function (s, p) { return p ? (calls ? p.rate * p.failureRatio : p.rejectionRate) : null; });
    var max = 0;
    pts.forEach(function (p) { if (p.v > max) max = p.v; });
    if (!(max > 0)) max = 1;
    var t0 = history.length ? history[0].t : 0, span = Math.max((history.length ? history[history.length - 1].t : 0) - t0, 1000);
    [[pts, "l-ok"], [fails, "l-fail"]].forEach(function (pair) {
      var d = "", pen = false;
      pair[0].forEach(function (p) {
        if (p.v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + (118 * (p.t - t0) / span + 1).toFixed(1) + " " + (22 - 20 * p.v / max).toFixed(1);
        pen = true;
      });
      if (d) svg.appendChild(svgEl("path", { d: d, "class": "l " + pair[1] }));
    });
    return svg;
  }

  function drawOverview() {
    lineChart($("chart-total"), [
      { cls: "l-ok", points: series("", function (s) { return sum(s, function (p) { return p.rate * (1 - p.failureRatio); }); }) },
      { cls: "l-fail", points: series("", function (s) { return sum(s, function (p) { return p.rate * p.failureRatio; }); }) }
    ]);
    lineChart($("chart-status"), ["healthy", "degraded", "unhealthy"].map(function (st, i) {
      return { cls: ["l-ok", "l-warn", "l-fail"][i], points: series("", function (s) { return s.policies.filter(function (p) { return p.status === st; }).length; }) };
    }), { fmt: function (v) { return v.toFixed(0); } });
  }
  function sum(s, f) {
    // Count each call once: wraps and policies run alone carry executions.
    var t = 0;
    s.policies.forEach(function (p) { if (p.executions > 0 && (p.kind === "wrap" || !wrapKeys(s)[p.key])) t += f(p); });
    return t;
  }
  function wrapKeys(s) {
    if (s._wraps) return s._wraps;
    var m = {};
    s.policies.forEach(function (p) { if (p.kind === "wrap") m[p.key] = true; });
    Object.defineProperty(s, "_wraps", { value: m, enumerable: false });
    return m;
  }

  function drawDetail() {
    var sec = $("detail");
    var p = last && last.policies.filter(function (q) { return idOf(q) === selected; })[0];
    if (!p) { sec.hidden = true; return; }
    sec.hidden = false;
    $("detail-title").textContent = p.key + " (" + p.kind + ") — " + p.status + (p.reason ? ": " + p.reason : "");
    lineChart($("chart-rate"), [
      { cls: "l-ok", points: series(selected, function (s, q) { return q ? q.rate * (1 - q.failureRatio) : null; }) },
      { cls: "l-fail", points: series(selected, function (s, q) { return q ? q.rate * q.failureRatio : null; }) }
    ]);
    lineChart($("chart-latency"), ["p50", "p95", "p99"].map(function (k) {
      return { cls: "l-" + k, points: series(selected, function (s, q) { return q && q.latency ? q.latency[k] : null; }) };
    }), { fmt: fmtMs });
    var kt = $("chart-kind-title"), ks = $("chart-kind");
    if (p.breaker) {
      kt.textContent = "Breaker state (green closed, amber half-open, red open, dark isolated)";
      lineChart(ks, [], { max: 1, fmt: function () { return ""; }, bands: function (svg, x, t0, now, y0, y1) {
        for (var i = 0; i < history.length; i++) {
          var q = history[i].byId[selected];
          if (!q || !q.breaker) continue;
          var next = i + 1 < history.length ? history[i + 1].t : now + 1;
          var band = { closed: 0, open: 1, "half-open": 2, isolated: 3 }[q.breaker.state];
          svg.appendChild(svgEl("rect", { x: x(history[i].t), y: y0, width: Math.max(x(next) - x(history[i].t), 1), height: y1 - y0, "class": "band-" + band }));
        }
      } });
    } else if (p.rateLimit) {
      kt.textContent = "Rate-limit utilisation";
      lineChart(ks, [{ cls: "l-kind", points: series(selected, function (s, q) { return q && q.rateLimit ? q.rateLimit.utilization : null; }) }], { max: 1, fmt: fmtPct });
    } else if (p.cache) {
      kt.textContent = "Cache hit rate (recent)";
      lineChart(ks, [{ cls: "l-kind", points: series(selected, function (s, q) { return q && q.cache && q.cache.recentHitRate >= 0 ? q.cache.recentHitRate : null; }) }], { max: 1, fmt: fmtPct });
    } else if (p.bulkhead) {
      kt.textContent = "Bulkhead: busy slots (blue) and queue (orange)";
      lineChart(ks, [
        { cls: "l-kind", points: series(selected, function (s, q) { return q && q.bulkhead ? q.bulkhead.inFlight : null; }) },
        { cls: "l-queue", points: series(selected, function (s, q) { return q && q.bulkhead ? q.bulkhead.queue : null; }) }
      ], { fmt: function (v) { return v.toFixed(0); } });
    } else {
      kt.textContent = "Rejections per second";
      lineChart(ks, [{ cls: "l-fail", points: series(selected, function (s, q) { return q ? q.rejectionRate : null; }) }]);
    }
    var dl = $("detail-facts");
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    var facts = [["executions", p.executions], ["successful", p.successful], ["failed", p.failed], ["rejections", p.rejections],
      ["retries", p.retryAttempts], ["timeouts", p.timeouts], ["fallbacks", p.fallbacks], ["store failures", p.storeFailures]];
    if (p.latency) facts.push(["latency window", p.latency.recent ? "last " + last.windowSeconds.toFixed(1) + "s (" + p.latency.count + " calls)" : "since start"]);
    if (p.breaker) facts.push(["breakers by state", Object.keys(p.breaker.counts).map(function (k) { return k + " " + p.breaker.counts[k]; }).join(", ")], ["transitions", p.breaker.changes]);
    if (p.cache) facts.push(["hits / misses", p.cache.hits + " / " + p.cache.misses]);
    if (p.bulkhead) facts.push(["capacity", p.bulkhead.capacity || "unknown"]);
    facts.forEach(function (f) { dl.appendChild(el("dt", "", f[0])); dl.appendChild(el("dd", "", f[1])); });
  }

  function visible(p) {
    var q = $("filter").value.trim().toLowerCase();
    if (q && (p.key + " " + p.kind + " " + p.status).toLowerCase().indexOf(q) < 0) return false;
    var k = $("kind").value;
    if (k && p.kind !== k) return false;
    if ($("only-bad").checked && p.status === "healthy") return false;
    return true;
  }

  function drawTable() {
    var tbody = document.querySelector("#policies tbody");
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    if (!last) return;
    var ps = last.policies.filter(visible).slice();
    ps.sort(function (a, b) {
      var x = sortValue(a, sortKey), y = sortValue(b, sortKey);
      if (x < y) return -sortDir;
      if (x > y) return sortDir;
      return a.key < b.key ? -1 : a.key > b.key ? 1 : (a.kind < b.kind ? -1 : 1);
    });
    ps.forEach(function (p) {
      var tr = el("tr", "st-" + p.status);
      var id = idOf(p);
      tr.dataset.id = id; tr.dataset.key = p.key; tr.dataset.kind = p.kind; tr.dataset.status = p.status;
      if (id === selected) tr.className += " selected";
      var st = el("td"); var badge = el("span", "badge st-" + p.status, p.status);
      if (p.reason) badge.title = p.reason;
      st.appendChild(badge); tr.appendChild(st);
      tr.appendChild(el("td", "key", p.key || "(no key)"));
      tr.appendChild(el("td", "kind", p.kind));
      var rc = el("td", "num rate", p.executions > 0 ? fmtNum(p.rate, 2) : "—");
      if (p.executions === 0 && p.rejections > 0) { rc.textContent = fmtNum(p.rejectionRate, 2); rc.title = "rejections per second"; rc.className += " rejections"; }
      tr.appendChild(rc);
      var sp = el("td"); sp.appendChild(spark(id)); tr.appendChild(sp);
      tr.appendChild(el("td", "num success", fmtPct(successRatio(p))));
      ["p50", "p95", "p99"].forEach(function (k) { tr.appendChild(el("td", "num " + k, p.latency ? fmtMs(p.latency[k]) : "—")); });
      var sc = el("td", "detail-cell"); stateCell(sc, p); tr.appendChild(sc);
      var ac = el("td", "actions"); actionsCell(ac, p); tr.appendChild(ac);
      tbody.appendChild(tr);
    });
    $("empty").hidden = last.policies.length > 0;
    document.querySelectorAll("#policies th[data-sort]").forEach(function (th) {
      th.classList.toggle("asc", th.dataset.sort === sortKey && sortDir > 0);
      th.classList.toggle("desc", th.dataset.sort === sortKey && sortDir < 0);
    });
  }

  function drawHealth() {
    var sec = $("health"), ul = $("health-list");
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    if (!last || !last.health) { sec.hidden = true; return; }
    sec.hidden = false;
    var ps = last.health.policies || {};
    Object.keys(ps).sort().forEach(function (name) {
      var r = ps[name], li = el("li");
      var st = String(r.status || "").toLowerCase();
      li.appendChild(el("span", "badge st-" + st, st));
      var data = Object.keys(r).filter(function (k) { return k !== "status"; }).map(function (k) { return k + " " + JSON.stringify(r[k]); }).join(", ");
      li.appendChild(document.createTextNode(" " + name + (data ? " — " + data : "")));
      ul.appendChild(li);
    });
  }

  function drawKinds() {
    var sel = $("kind"), have = {};
    for (var i = 0; i < sel.options.length; i++) have[sel.options[i].value] = true;
    last.policies.forEach(function (p) {
      if (!have[p.kind]) { have[p.kind] = true; var o = el("option", "", p.kind); o.value = p.kind; sel.appendChild(o); }
    });
  }

  function render() {
    if (!last) return;
    var o = $("overall");
    o.className = "badge st-" + last.status;
    o.textContent = last.status;
    $("updated").textContent = "updated " + new Date(receivedAt).toLocaleTimeString() + " · every " + (last.refreshMillis / 1000) + "s";
    $("controls").hidden = !last.controls;
    drawKinds();
    drawTable();
    drawOverview();
    drawDetail();
    drawHealth();
  }

  function receive(snap) {
    last = snap;
    receivedAt = Date.now();
    var byId = {};
    snap.policies.forEach(function (p) { byId[idOf(p)] = p; });
    history.push({ t: receivedAt, snap: snap, byId: byId });
    while (history.length > MAX_POINTS || (history.length > 1 && receivedAt - history[0].t > MAX_AGE_MS)) history.shift();
    api.updates++;
    api.last = snap;
    render();
  }

  function setConn(state) {
    var c = $("conn");
    c.className = "conn " + state;
    c.textContent = state === "live" ? "live" : state === "down" ? "reconnecting" : "connecting";
  }

  function connect() {
    if (!window.EventSource) { poll(); return; }
    var es = new EventSource("api/events");
    es.addEventListener("snapshot", function (e) {
      setConn("live");
      try { receive(JSON.parse(e.data)); } catch (err) { setMessage("bad snapshot: " + err.message, "err"); }
    });
    es.onerror = function () { setConn("down"); };
    api.close = function () { es.close(); };
  }
  function poll() {
    fetch("api/snapshot", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      setConn("live"); receive(s); setTimeout(poll, s.refreshMillis);
    }, function () { setConn("down"); setTimeout(poll, 5000); });
  }

  function setMessage(text, cls) {
    var m = $("message");
    m.textContent = text;
    m.className = "message " + (cls || "");
  }

  // control posts an action; the token goes in the Authorization header only.
  function control(action, policy) {
    var token = $("token").value.trim();
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    setMessage(action + " " + policy + "…");
    return fetch("api/control", {
      method: "POST", headers: headers, credentials: "omit", cache: "no-store",
      body: JSON.stringify({ action: action, policy: policy })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.ok) setMessage(action + " " + policy + ": done", "ok");
        else setMessage(action + " " + policy + ": refused (" + r.status + ") " + (body.error || ""), "err");
        api.lastControl = { status: r.status, body: body };
        return r.status;
      });
    }, function (err) { setMessage(action + " " + policy + ": " + err.message, "err"); api.lastControl = { status: 0 }; return 0; });
  }
  api.control = control;

  function init() {
    document.querySelectorAll("#policies th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () {
        var k = th.dataset.sort;
        if (k === sortKey) sortDir = -sortDir; else { sortKey = k; sortDir = (k === "key" || k === "kind") ? 1 : -1; }
        drawTable();
      });
    });
    ["filter", "kind", "only-bad"].forEach(function (id) { $(id).addEventListener("input", drawTable); $(id).addEventListener("change", drawTable); });
    document.querySelector("#policies tbody").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-action]");
      if (b) { e.stopPropagation(); control(b.dataset.action, b.dataset.policy); return; }
      var tr = e.target.closest("tr");
      if (tr) { selected = tr.dataset.id === selected ? null : tr.dataset.id; drawTable(); drawDetail(); }
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
