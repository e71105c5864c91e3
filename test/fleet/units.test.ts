import { test } from "node:test";
import assert from "node:assert/strict";
import { SlotPool } from "../../fleet-agent/slots.ts";
import { failureOf } from "../../fleet-agent/handle.ts";
import { mismatch } from "../../fleet-agent/schema.ts";
import { formatFleet } from "../../fleet-agent/status-format.ts";
import type { FleetNodeView } from "../../fleet-agent/index.ts";

test("slots: a loop leaves one slot to each loop holding none; unused reservations come back; never over capacity", async () => {
  const pool = new SlotPool(3);
  const live = new AbortController().signal;
  const loops = ["role", "node"];
  assert.equal(await pool.reserve("role", loops, 3, live), 2, "one slot stays for the idle node loop");
  assert.equal(await pool.reserve("node", loops, 3, live), 1);
  pool.start("role");
  pool.start("role");
  pool.release("role");
  pool.release("node");
  assert.equal(pool.inUse, 2);
  assert.equal(await pool.reserve("node", loops, 3, live), 1, "one slot free and both loops holding none: the first to ask takes it");
  pool.start("node");
  pool.release("node");
  assert.equal(pool.inUse, 3);
  const stop = new AbortController();
  const waiting = pool.reserve("role", loops, 3, stop.signal);
  pool.finish();
  assert.equal(await waiting, 1, "a finished task frees a slot for a waiting loop");
  const aborted = new AbortController();
  const blocked = pool.reserve("node", loops, 3, aborted.signal);
  aborted.abort();
  assert.equal(await blocked, 0, "an aborted wait reserves nothing");
});

test("failureOf: success, exit codes, signals and timeouts, violations first", () => {
  const base = { exitCode: 0, signal: null, stdout: "", stderr: "", violations: [], durationMs: 10 };
  assert.equal(failureOf(base, 1000), undefined);
  assert.equal(failureOf({ ...base, exitCode: 2, stderr: "boom\n" }, 1000), "exit code 2: boom");
  assert.equal(failureOf({ ...base, exitCode: null, signal: "SIGKILL", durationMs: 1000 }, 1000), "ended by signal SIGKILL after the 1000 ms timeout");
  assert.match(failureOf({ ...base, violations: [{ kind: "network", detail: "evil.example:443" }] }, 1000)!, /^sandbox violation: \[\{"kind":"network","detail":"evil.example:443"\}\]$/);
});

test("mismatch names what is missing", () => {
  const node = { os: "linux", arch: "x64", capabilities: ["git", "vision"] };
  assert.equal(mismatch({ capabilities: [] }, node), undefined);
  assert.equal(mismatch({ capabilities: ["vision"], os: "linux", arch: "x64" }, node), undefined);
  assert.equal(mismatch({ capabilities: [], os: "darwin" }, node), "needs os darwin, node is linux");
  assert.equal(mismatch({ capabilities: [], arch: "arm64" }, node), "needs arch arm64, node is x64");
  assert.equal(mismatch({ capabilities: ["gpu", "vision", "cuda"] }, node), "lacks capabilities gpu, cuda");
});

test("the status table aligns its columns and says when the fleet is empty", () => {
  assert.match(formatFleet([]), /No fleet nodes have registered yet/);
  const node = (id: string, health: FleetNodeView["health"], running: string[], age: number): FleetNodeView => ({
    id, hostname: id, os: "linux", arch: "x64", cpus: 2, memory_bytes: 1, labels: [], capabilities: [], roles: [], version: "0.1.0",
    health, capacity: 18, running: running.length, load: running.length / 18, running_tasks: running, last_heartbeat: "2026-01-01T00:00:00.000Z", heartbeat_age_ms: age, started_at: "2026-01-01T00:00:00.000Z",
  });
  const lines = formatFleet([node("a", "up", ["gz-1111", "gz-2222"], 400), node("long-node", "down", [], 600_000)]).split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[1], "a          linux/x64  up      2/18  gz-1111,gz-2222  2026-01-01T00:00:00.000Z (just now)");
  assert.equal(lines[2], "long-node  linux/x64  down    0/18  -                2026-01-01T00:00:00.000Z (10m ago)");
  assert.equal(lines[0]!.indexOf("HEALTH"), lines[1]!.indexOf("up"));
});
