import { test } from "node:test";
import assert from "node:assert/strict";
import { BackgroundTasks } from "../../edge/background.ts";

test("afterResponse runs its work after the deferral, not before, and drain waits for it", async () => {
  const deferred: (() => void)[] = [];
  const tasks = new BackgroundTasks(() => assert.fail("no error expected"), undefined, (run) => deferred.push(run));
  const done: string[] = [];
  tasks.afterResponse(() => done.push("audit"));
  tasks.afterResponse(async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    done.push("slow settle");
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(done, [], "nothing runs before the answer is written");
  const draining = tasks.drain();
  for (const run of deferred) run();
  await draining;
  assert.deepEqual(done, ["audit", "slow settle"], "a shutdown's drain waits for deferred work, even work deferred before it began");
});

test("afterResponse on Node's setImmediate runs after the microtasks that write a response", async () => {
  const tasks = new BackgroundTasks(() => {}, undefined, setImmediate);
  const order: string[] = [];
  tasks.afterResponse(() => order.push("bookkeeping"));
  await Promise.resolve().then(() => order.push("response written"));
  await tasks.drain();
  assert.deepEqual(order, ["response written", "bookkeeping"]);
});

test("a failure in deferred work goes to onError and to the Worker's waitUntil, and leaves the rest running", async () => {
  const errors: unknown[] = [];
  const handedOff: Promise<unknown>[] = [];
  const tasks = new BackgroundTasks((e) => errors.push(e), (p) => handedOff.push(p));
  let ran = false;
  tasks.afterResponse(() => {
    throw new Error("audit store gone");
  });
  tasks.afterResponse(() => (ran = true));
  assert.equal(handedOff.length, 2, "handed to waitUntil at once, before the work runs");
  await tasks.drain();
  assert.equal(ran, true);
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /audit store gone/);
});
