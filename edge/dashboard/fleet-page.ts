import { pageShell } from "./shell.ts";
// The live fleet page (issue #7): one self-contained HTML document, no build step, like the task
// page beside it. Its script polls fleet.json (the nodes as `godotz fleet status --json` shows
// them) and redraws one SVG card per node: OS/arch, health, load against capacity, running tasks,
// last heartbeat. Every node is built with createElementNS/textContent, never innerHTML, since
// ids, labels and task ids come from the nodes.

const STYLE = `
body { font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #1f2328; background: #fff; }
header { display: flex; gap: 18px; align-items: baseline; margin-bottom: 10px; }
h1 { font-size: 17px; margin: 0; }
#summary { color: #57606a; }
#status { color: #57606a; margin-left: auto; }
#status.error { color: #cf222e; }
svg text { font-size: 12px; fill: #1f2328; dominant-baseline: middle; }
.card { fill: #f6f8fa; stroke: #d0d7de; }
.id { font-weight: 600; font-size: 13px; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 11px; }
.muted { fill: #57606a; }
.health-up .dot { fill: #2da44e; } .health-draining .dot { fill: #d4a72c; }
.health-stopped .dot { fill: #8c959f; } .health-down .dot { fill: #cf222e; }
.health-down .card { stroke: #cf222e; }
.track { fill: #eaeef2; } .fill { fill: #0969da; } .health-down .fill, .health-stopped .fill { fill: #afb8c1; }
`;

// Plain ES5-ish script (no template literals, so it sits safely inside this one).
const SCRIPT = `
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var POLL_MS = 2000;
  var board = document.getElementById("board");
  var status = document.getElementById("status");
  var summary = document.getElementById("summary");
  var last = null;
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function pad2(n) { return String(n).padStart(2, "0"); }
  function clock(d) { return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()); }
  function age(ms) {
    var s = Math.round(ms / 1000);
    return s < 1 ? "just now" : s < 120 ? s + "s ago" : Math.round(s / 60) + "m ago";
  }
  function gib(bytes) { return (bytes / 1073741824).toFixed(1) + " GiB"; }
  function render(data) {
    var nodes = data.nodes;
    var W = 300, H = 150, GAP = 14;
    var cols = Math.max(1, Math.floor((Math.max(640, board.clientWidth) + GAP) / (W + GAP)));
    var rows = Math.max(1, Math.ceil(nodes.length / cols));
    var width = cols * (W + GAP), height = rows * (H + GAP);
    var svg = el("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "Fleet nodes", "data-now": data.now });
    nodes.forEach(function (n, i) {
      var x = (i % cols) * (W + GAP), y = Math.floor(i / cols) * (H + GAP);
      var g = el("g", { class: "node health-" + n.health, transform: "translate(" + x + "," + y + ")", "data-id": n.id, "data-health": n.health,
        "data-running": n.running, "data-capacity": n.capacity, "data-os": n.os, "data-arch": n.arch, "data-tasks": n.running_tasks.join(" ") });
      g.appendChild(el("title", {}, n.id + " (" + n.hostname + ")\\ncapabilities: " + (n.capabilities.join(", ") || "-") + "\\nlabels: " + (n.labels.join(", ") || "-") + "\\nversion " + n.version));
      g.appendChild(el("rect", { class: "card", x: 0.5, y: 0.5, width: W - 1, height: H - 1, rx: 6 }));
      g.appendChild(el("circle", { class: "dot", cx: 16, cy: 18, r: 6 }));
      var id = n.id.length > 30 ? n.id.slice(0, 29) + "\\u2026" : n.id;
      g.appendChild(el("text", { class: "id", x: 30, y: 18 }, id));
      g.appendChild(el("text", { class: "health", x: W - 12, y: 18, "text-anchor": "end" }, n.health));
      g.appendChild(el("text", { class: "platform muted", x: 12, y: 42 }, n.os + "/" + n.arch + " \\u00b7 " + n.cpus + " CPUs \\u00b7 " + gib(n.memory_bytes) + (n.roles.length ? " \\u00b7 " + n.roles.join(", ") : "")));
      g.appendChild(el("rect", { class: "track", x: 12, y: 58, width: W - 24, height: 10, rx: 3 }));
      g.appendChild(el("rect", { class: "fill", x: 12, y: 58, width: Math.round((W - 24) * Math.min(1, n.load)), height: 10, rx: 3 }));
      g.appendChild(el("text", { class: "load", x: 12, y: 82 }, "load " + n.running + "/" + n.capacity));
      var tasks = n.running_tasks.slice(0, 3).join(" ") + (n.running_tasks.length > 3 ? " +" + (n.running_tasks.length - 3) : "");
      g.appendChild(el("text", { class: "tasks mono", x: 12, y: 104 }, tasks || "idle"));
      g.appendChild(el("text", { class: "heartbeat muted", x: 12, y: 128 }, "heartbeat " + age(n.heartbeat_age_ms) + " \\u00b7 " + clock(new Date(n.last_heartbeat))));
      svg.appendChild(g);
    });
    if (!nodes.length) svg.appendChild(el("text", { class: "empty", x: 4, y: 20 }, "No nodes have registered yet: start one with godotz fleet-agent."));
    board.replaceChildren(svg);
    var up = nodes.filter(function (n) { return n.health === "up"; }).length;
    var running = nodes.reduce(function (s, n) { return s + n.running; }, 0);
    var capacity = nodes.filter(function (n) { return n.health === "up"; }).reduce(function (s, n) { return s + n.capacity; }, 0);
    summary.textContent = nodes.length + " nodes \\u00b7 " + up + " up \\u00b7 " + running + "/" + capacity + " slots busy";
  }
  function poll() {
    fetch("fleet.json", { cache: "no-store", credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) throw Object.assign(new Error("Session missing or expired: open this page again with ?key=<master key>."), { fatal: true });
        if (!r.ok) return r.json().then(function (b) { throw new Error((b && b.error && b.error.message) || "HTTP " + r.status); });
        return r.json();
      })
      .then(function (data) {
        last = data;
        render(data);
        status.className = "";
        status.textContent = "updated " + clock(new Date()) + " \\u00b7 every " + POLL_MS / 1000 + " s";
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

const shell = (nonce: string, body: string, script = "") => pageShell({ title: "godotz · fleet", nonce, style: STYLE, body, script });

export function fleetPage(nonce: string): string {
  return shell(nonce, `<header><h1>godotz · fleet</h1><span id="summary"></span><span id="status" role="status">loading…</span></header>\n<main id="board"></main>`, SCRIPT);
}

export function fleetSignInPage(nonce: string, message: string): string {
  return shell(nonce, `<header><h1>godotz · fleet</h1></header>\n<p>${message}</p>\n<p>Open <code>/dashboard/fleet?key=&lt;master key&gt;</code> once; the gateway then keeps a signed session cookie for the dashboard.</p>`);
}
