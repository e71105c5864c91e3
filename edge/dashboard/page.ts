import { pageShell } from "./shell.ts";
// The task Gantt page (FR-L5-003): one self-contained HTML document, no build step. The script
// polls tasks.json (the schedule workers/tasks/schedule.ts computes, as `bd gantt --json`) and
// redraws the SVG; it builds every node with createElementNS/textContent, never innerHTML, since
// titles are free text written by agents. Times are shown in the browser's local time, the same
// formats as the terminal chart (cli/bd/gantt.ts).

const STYLE = `
body { font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #1f2328; background: #fff; }
header { display: flex; gap: 18px; align-items: baseline; margin-bottom: 10px; }
h1 { font-size: 17px; margin: 0; }
#filter { color: #57606a; }
#status { color: #57606a; margin-left: auto; }
#status.error { color: #cf222e; }
#chart { width: 100%; overflow-x: auto; }
svg text { font-size: 12px; fill: #1f2328; dominant-baseline: middle; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.stripe { fill: #f6f8fa; }
.grid { stroke: #d8dee4; stroke-width: 1; }
.axis { fill: #57606a; font-size: 11px; }
.bar.done .seg { fill: #2da44e; }
.bar.running .elapsed { fill: #d4a72c; }
.bar .remaining, .bar.planned .seg { fill: #afb8c1; }
.bar.critical .remaining, .bar.planned.critical .seg { fill: #cf222e; }
.status-blocked .bar .seg { stroke: #24292f; stroke-width: 1; stroke-dasharray: 3 2; }
.critical-mark { fill: #cf222e; }
.kind-done text.title, .kind-stopped text, .kind-done .eta { fill: #57606a; }
.kind-stopped .title { text-decoration: line-through; }
.now { stroke: #0969da; stroke-width: 1.5; stroke-dasharray: 4 3; }
.now-label { fill: #0969da; font-size: 11px; }
.set-eta { font-weight: 600; font-size: 13px; }
.legend .swatch.done { fill: #2da44e; } .legend .swatch.running { fill: #d4a72c; }
.legend .swatch.planned { fill: #afb8c1; } .legend .swatch.critical { fill: #cf222e; }
.legend .swatch.blocked { fill: #afb8c1; stroke: #24292f; stroke-dasharray: 3 2; }
`;

// Plain ES5-ish script (no template literals, so it sits safely inside this one).
const SCRIPT = `
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var POLL_MS = 2000;
  var params = new URLSearchParams(location.search);
  params.delete("key");
  var source = "tasks.json" + (params.toString() ? "?" + params.toString() : "");
  var chart = document.getElementById("chart");
  var status = document.getElementById("status");
  var filter = [];
  ["swarm", "run"].forEach(function (k) { if (params.get(k)) filter.push(k + " " + params.get(k)); });
  params.getAll("id").forEach(function (id) { filter.push(id); });
  document.getElementById("filter").textContent = filter.length ? filter.join(" · ") : "all tasks";
  var last = null;

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function pad2(n) { return String(n).padStart(2, "0"); }
  function day(d) { return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()); }
  function clock(d) { return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }
  function when(d, now) { return day(d) === day(now) ? clock(d) : day(d) + " " + clock(d); }
  function span(ms) {
    var minutes = Math.max(0, Math.round(ms / 60000));
    var d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    return [d ? d + "d" : "", h ? h + "h" : "", m || (!d && !h) ? m + "m" : ""].filter(Boolean).join(" ");
  }
  function etaCell(t, now) {
    if (t.kind === "stopped") return "cancelled";
    if (t.kind === "done") return "done " + when(new Date(t.end), now);
    return "eta " + when(new Date(t.eta), now);
  }
  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080];

  function render(plan) {
    var now = new Date(plan.now), tasks = plan.tasks;
    var ROW = 26, HEAD = 34, ETA = 170, PAD = 12;
    var idChars = Math.max(4, Math.max.apply(null, tasks.map(function (t) { return t.id.length; }).concat([0])));
    var idW = idChars * 7.4 + 12;
    var width = Math.max(760, chart.clientWidth - 4);
    var label = Math.min(360, Math.max(220, Math.round(width * 0.3)));
    var barX = label, barW = width - label - ETA - PAD;
    var times = [now.getTime()];
    tasks.forEach(function (t) { if (t.start) times.push(Date.parse(t.start)); if (t.end) times.push(Date.parse(t.end)); });
    var from = Math.min.apply(null, times), to = Math.max(Math.max.apply(null, times), from + 60000);
    function x(ms) { return barX + ((ms - from) / (to - from)) * barW; }
    var rowsH = Math.max(1, tasks.length) * ROW;
    var footY = HEAD + rowsH + 26;
    var height = footY + 66;
    var svg = el("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, "data-now": plan.now, "data-eta": plan.eta || "", role: "img", "aria-label": "Task schedule" });

    var step = STEPS.find(function (s) { return (to - from) / (s * 60000) <= 8; }) || STEPS[STEPS.length - 1];
    var grid = el("g", { class: "axis-group" });
    for (var tick = Math.ceil(from / (step * 60000)) * step * 60000; tick <= to; tick += step * 60000) {
      grid.appendChild(el("line", { class: "grid", x1: x(tick), x2: x(tick), y1: HEAD - 8, y2: HEAD + rowsH }));
      grid.appendChild(el("text", { class: "axis", x: x(tick), y: HEAD - 16, "text-anchor": "middle" }, when(new Date(tick), now)));
    }
    svg.appendChild(grid);

    var rows = el("g", { class: "rows" });
    tasks.forEach(function (t, i) {
      var g = el("g", { class: "row kind-" + t.kind + " status-" + t.status + (t.critical ? " critical" : ""), transform: "translate(0," + (HEAD + i * ROW) + ")",
        "data-id": t.id, "data-kind": t.kind, "data-status": t.status, "data-critical": String(t.critical), "data-eta": t.eta || "" });
      g.appendChild(el("title", {}, t.id + " " + t.title + "\\n" + t.status + ", " + Math.round(t.duration_minutes) + " min (" + t.duration_source + ")" +
        (t.blockers.length ? "\\nwaits for " + t.blockers.join(", ") : "")));
      if (i % 2) g.appendChild(el("rect", { class: "stripe", x: 0, y: 0, width: width, height: ROW }));
      if (t.critical) g.appendChild(el("text", { class: "critical-mark", x: 6, y: ROW / 2 }, "\\u25c6"));
      g.appendChild(el("text", { class: "id", x: 22, y: ROW / 2 }, t.id));
      var room = Math.floor((label - 22 - idW - 8) / 6.6);
      var title = t.title.length <= room ? t.title : t.title.slice(0, Math.max(0, room - 1)) + "\\u2026";
      g.appendChild(el("text", { class: "title", x: 22 + idW, y: ROW / 2 }, title));
      var bar = el("g", { class: "bar " + t.kind + (t.critical ? " critical" : "") });
      var seg = function (cls, a, b) {
        bar.appendChild(el("rect", { class: cls, x: x(a), y: 6, width: Math.max(2, x(b) - x(a)), height: ROW - 12, rx: 2 }));
      };
      var start = t.start ? Date.parse(t.start) : null, end = t.end ? Date.parse(t.end) : null;
      if (t.kind === "done" || t.kind === "planned") seg("seg", start, end);
      if (t.kind === "running") {
        seg("seg elapsed", start, now.getTime());
        if (end > now.getTime()) seg("seg remaining", now.getTime(), end);
      }
      g.appendChild(bar);
      g.appendChild(el("text", { class: "eta", x: width - ETA + 6, y: ROW / 2, "data-eta": t.eta || "" }, etaCell(t, now)));
      rows.appendChild(g);
    });
    if (!tasks.length) rows.appendChild(el("text", { class: "empty", x: 22, y: HEAD + ROW / 2 }, "No tasks."));
    svg.appendChild(rows);

    svg.appendChild(el("line", { class: "now", x1: x(now.getTime()), x2: x(now.getTime()), y1: HEAD - 8, y2: HEAD + rowsH + 4 }));
    svg.appendChild(el("text", { class: "now-label", x: x(now.getTime()) + 4, y: HEAD - 4 }, "now " + clock(now)));

    var left = tasks.filter(function (t) { return t.eta !== null; }).length;
    var etaText = !tasks.length ? "No tasks." : plan.eta
      ? "ETA " + day(new Date(plan.eta)) + " " + clock(new Date(plan.eta)) + " (in " + span(Date.parse(plan.eta) - now.getTime()) + ") for " + left + " unfinished of " + tasks.length + " tasks"
      : "All " + tasks.length + " tasks finished or cancelled.";
    svg.appendChild(el("text", { id: "set-eta", class: "set-eta", x: 6, y: footY - 8, "data-eta": plan.eta || "" }, etaText));
    if (plan.critical_path.length) svg.appendChild(el("text", { id: "critical-path", x: 6, y: footY + 14 }, "Critical path: " + plan.critical_path.join(" \\u2192 ")));

    var legend = el("g", { class: "legend", transform: "translate(6," + (footY + 38) + ")" });
    var lx = 0;
    [["done", "done"], ["running", "running"], ["planned", "planned"], ["blocked", "blocked"], ["critical", "\\u25c6 critical path"]].forEach(function (item) {
      legend.appendChild(el("rect", { class: "swatch " + item[0], x: lx, y: -6, width: 22, height: 12, rx: 2 }));
      legend.appendChild(el("text", { x: lx + 28, y: 0 }, item[1]));
      lx += 40 + item[1].length * 7;
    });
    legend.appendChild(el("line", { class: "now", x1: lx + 8, x2: lx + 8, y1: -8, y2: 8 }));
    legend.appendChild(el("text", { x: lx + 16, y: 0 }, "now (" + clock(now) + ")"));
    svg.appendChild(legend);
    chart.replaceChildren(svg);
  }

  function poll() {
    fetch(source, { cache: "no-store", credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) throw Object.assign(new Error("Session missing or expired: open this page again with ?key=<master key>."), { fatal: true });
        if (!r.ok) return r.json().then(function (b) { throw new Error((b && b.error && b.error.message) || "HTTP " + r.status); });
        return r.json();
      })
      .then(function (plan) {
        last = plan;
        render(plan);
        status.className = "";
        var at = new Date();
        status.textContent = "updated " + clock(at) + ":" + pad2(at.getSeconds()) + " \\u00b7 every " + POLL_MS / 1000 + " s";
        setTimeout(poll, POLL_MS);
      })
      .catch(function (error) {
        status.className = "error";
        status.textContent = error.message + (error.fatal ? "" : " (retrying)");
        if (!error.fatal) setTimeout(poll, POLL_MS);
      });
  }
  window.addEventListener("resize", function () { if (last) render(last); });
  poll();
})();
`;

const shell = (nonce: string, body: string, script = "") => pageShell({ title: "godotz · tasks", nonce, style: STYLE, body, script });

export function tasksPage(nonce: string): string {
  return shell(nonce, `<header><h1>godotz · tasks</h1><span id="filter"></span><span id="status" role="status">loading…</span></header>\n<main id="chart"></main>`, SCRIPT);
}

export function signInPage(nonce: string, message: string): string {
  return shell(nonce, `<header><h1>godotz · tasks</h1></header>\n<p>${message}</p>\n<p>Open <code>/dashboard/tasks?key=&lt;master key&gt;</code> once; the gateway then keeps a signed session cookie for this path.</p>`);
}
