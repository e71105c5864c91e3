// The gate that keeps runs with different network allowlists from overlapping.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GateWaitTimeout, NetworkPolicyGate } from "../../../fleet-agent/sandbox/network-gate.ts";

function gate() {
  const applied: string[][] = [];
  return { applied, gate: new NetworkPolicyGate((hosts) => applied.push(hosts)) };
}

/** Whether the promise has settled after pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test("runs sharing an allowlist hold the gate together; it is applied once", async () => {
  const { gate: g, applied } = gate();
  const r1 = await g.enter(["b.example", "a.example"], 1000);
  const r2 = await g.enter(["a.example", "b.example", "a.example"], 1000);
  assert.deepEqual(applied, [["a.example", "b.example"]]);
  assert.deepEqual(g.load, { active: 2, waiting: 0 });
  r1();
  r2();
  r2(); // a second release is a no-op
  assert.deepEqual(g.load, { active: 0, waiting: 0 });
});

test("a run with another allowlist waits for the running ones, then the allowlist is swapped", async () => {
  const { gate: g, applied } = gate();
  const rA = await g.enter(["a.example"], 1000);
  const enteringB = g.enter(["b.example"], 1000);
  assert.equal(await settled(enteringB), false, "B waits while A runs");
  assert.deepEqual(applied, [["a.example"]]);
  rA();
  const rB = await enteringB;
  assert.deepEqual(applied, [["a.example"], ["b.example"]]);
  rB();
});

test("while a run waits, newcomers with the running allowlist queue behind it (no starvation)", async () => {
  const { gate: g, applied } = gate();
  const rA = await g.enter(["a"], 1000);
  const enteringB = g.enter(["b"], 1000);
  const enteringA2 = g.enter(["a"], 1000);
  assert.equal(await settled(enteringA2), false);
  rA();
  const rB = await enteringB;
  assert.equal(await settled(enteringA2), false, "A2 waits for B");
  rB();
  (await enteringA2)();
  assert.deepEqual(applied, [["a"], ["b"], ["a"]]);
});

test("all waiters with the head's allowlist are admitted together", async () => {
  const { gate: g } = gate();
  const rA = await g.enter(["a"], 1000);
  const waiters = [g.enter(["b"], 1000), g.enter(["c"], 1000), g.enter(["b"], 1000)];
  rA();
  const [b1, , b2] = waiters;
  const releases = await Promise.all([b1!, b2!]);
  assert.deepEqual(g.load, { active: 2, waiting: 1 });
  releases.forEach((r) => r());
  (await waiters[1]!)();
  assert.deepEqual(g.load, { active: 0, waiting: 0 });
});

test("waiting is bounded by the wait time and by the abort signal", async () => {
  const { gate: g } = gate();
  const rA = await g.enter(["a"], 1000);
  await assert.rejects(g.enter(["b"], 20), GateWaitTimeout);
  const controller = new AbortController();
  const entering = g.enter(["c"], 10_000, controller.signal);
  controller.abort(new Error("task cancelled"));
  await assert.rejects(entering, /task cancelled/);
  assert.deepEqual(g.load, { active: 1, waiting: 0 });
  rA();
  await assert.rejects(g.enter(["d"], 1000, AbortSignal.abort()), { name: "AbortError" });
  assert.deepEqual(g.load, { active: 0, waiting: 0 });
});
