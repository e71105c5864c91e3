import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MemorySaver, emptyCheckpoint, type BaseCheckpointSaver } from "@langchain/langgraph";
import { ExecutionSaver } from "../../../workers/swarm/runtime/checkpointer.ts";
import { executeRun } from "../../../workers/swarm/runtime/executor.ts";
import { startRuntimeStack, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

/** The checkpointer with every call it gets recorded, by method name, in order. */
function recorded<T extends BaseCheckpointSaver>(saver: T): { saver: T; calls: string[] } {
  const calls: string[] = [];
  const methods = new Set(["getTuple", "list", "put", "putWrites", "deleteThread"]);
  const proxy = new Proxy(saver, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !methods.has(key) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(key);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { saver: proxy, calls };
}

const collect = async <T>(items: AsyncIterable<T>) => {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
};
const isRead = (call: string) => call === "getTuple" || call === "list";
const config = (thread: string) => ({ configurable: { thread_id: thread, checkpoint_ns: "" } });
const metadata = { source: "input" as const, step: -1, parents: {} };

test("a fresh thread reads as empty without asking the checkpointer it wraps, until something is written to it", async () => {
  const inner = recorded(new MemorySaver());
  const fresh = new ExecutionSaver(inner.saver, "run-1", { fresh: true, ending: () => false });
  assert.equal(await fresh.getTuple(config("run-1")), undefined);
  assert.deepEqual(await collect(fresh.list(config("run-1"))), []);
  assert.deepEqual(inner.calls, [], "no read reached the wrapped checkpointer");

  const checkpoint = emptyCheckpoint();
  await fresh.put(config("run-1"), checkpoint, metadata, {});
  assert.equal(fresh.wrote, true);
  const read = await fresh.getTuple(config("run-1"));
  assert.equal(read?.checkpoint.id, checkpoint.id, "once written, reads go to the wrapped checkpointer");
  assert.equal((await collect(fresh.list(config("run-1")))).length, 1);
  assert.deepEqual(inner.calls, ["put", "getTuple", "list"]);
});

test("another thread, and a resumed execution's reads, go to the wrapped checkpointer from the start", async () => {
  const inner = new MemorySaver();
  const other = emptyCheckpoint();
  await inner.put(config("run-2"), other, metadata);
  const fresh = new ExecutionSaver(inner, "run-1", { fresh: true, ending: () => false });
  assert.equal((await fresh.getTuple(config("run-2")))?.checkpoint.id, other.id);
  const resumed = new ExecutionSaver(inner, "run-2", { fresh: false, ending: () => false });
  assert.equal((await resumed.getTuple(config("run-2")))?.checkpoint.id, other.id);
  assert.equal(resumed.wrote, false);
  assert.equal(fresh.getNextVersion(undefined), inner.getNextVersion(undefined));
});

test("what an ending graph writes is held, not written, and reads of the thread are answered from it", async () => {
  const inner = recorded(new MemorySaver());
  let ending = false;
  const saver = new ExecutionSaver(inner.saver, "run-3", { fresh: false, ending: () => ending });
  const before = emptyCheckpoint();
  await saver.put(config("run-3"), before, metadata, {});
  ending = true;
  const last = emptyCheckpoint();
  const returned = await saver.put({ configurable: { thread_id: "run-3", checkpoint_ns: "", checkpoint_id: before.id } }, last, metadata, {});
  assert.deepEqual(returned, { configurable: { thread_id: "run-3", checkpoint_ns: "", checkpoint_id: last.id } });
  await saver.putWrites(returned, [["turns", ["x"]]], "task-1");
  const read = await saver.getTuple(config("run-3"));
  assert.equal(read?.checkpoint.id, last.id);
  assert.equal(read?.parentConfig?.configurable?.checkpoint_id, before.id);
  assert.deepEqual(read?.pendingWrites, [["task-1", "turns", ["x"]]]);
  assert.equal((await saver.getTuple({ configurable: { thread_id: "run-3", checkpoint_ns: "", checkpoint_id: before.id } }))?.checkpoint.id, before.id, "an earlier checkpoint is still read from the wrapped one");
  const listed = async (options?: Parameters<BaseCheckpointSaver["list"]>[1]) => (await collect(saver.list(config("run-3"), options))).map((t) => t.checkpoint.id);
  assert.deepEqual(await listed(), [last.id, before.id], "newest first: the held one, then the written one");
  assert.deepEqual(await listed({ limit: 1 }), [last.id]);
  assert.deepEqual(await listed({ before: returned }), [before.id], "the held one is not before itself");
  assert.deepEqual(inner.calls, ["put", "getTuple", "list", "list"], "the ending graph's checkpoint and writes never reached it");
});

let rt: RuntimeStack;
/** Rows in LangGraph's checkpoint tables for a run's thread. */
const checkpointRows = async (runId: string) => {
  const [row] = await rt.sql<{ n: number }[]>`
    SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = ${runId})
         + (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = ${runId})
         + (SELECT count(*) FROM checkpoint_writes WHERE thread_id = ${runId}) AS n`;
  return Number(row!.n);
};
before(async () => {
  rt = await startRuntimeStack();
});
after(async () => {
  await rt?.close();
});

test("a run that finishes in its first execution neither reads nor writes a checkpoint; neither does one whose supervisor fails", async () => {
  const first = recorded(rt.checkpointer);
  const completed = await executeRun(rt.deps({ checkpointer: first.saver }), await rt.start(await rt.load(TWO_WORKERS), "done"));
  assert.equal(completed.status, "completed", completed.error ?? "");
  assert.match(completed.output!, /Simulated gemini-3.1-pro-low reply/, "the final state was read from what the graph held");
  assert.deepEqual(first.calls, []);
  assert.equal(await checkpointRows(completed.runId), 0);

  const outOfTurns = recorded(rt.checkpointer);
  const failing = await rt.load(TWO_WORKERS.replace("max_turns: 6", "max_turns: 1"));
  const failed = await executeRun(rt.deps({ checkpointer: outOfTurns.saver }), await rt.start(failing, "too long"));
  assert.equal(failed.status, "failed");
  assert.match(failed.error!, /max_turns/);
  assert.deepEqual(outOfTurns.calls, []);
  assert.equal(await checkpointRows(failed.runId), 0);
});

test("a drained execution writes its checkpoint without reading one; the resumed execution reads it first and leaves no rows", async () => {
  const loaded = await rt.load(TWO_WORKERS);
  const runId = await rt.start(loaded, "fresh");
  // The worker drains after the first step: the run stops at the next boundary, its checkpoint written.
  const drain = new AbortController();
  const first = recorded(rt.checkpointer);
  const stopped = await executeRun(rt.deps({ checkpointer: first.saver, signal: drain.signal, onProgress: (p) => p.kind === "step-finished" && drain.abort() }), runId);
  assert.equal(stopped.status, "running", stopped.error ?? "");
  const firstWrite = first.calls.findIndex((call) => !isRead(call));
  assert.ok(firstWrite >= 0 && !first.calls.slice(0, firstWrite).some(isRead), `first execution: ${first.calls.join(", ")}`);
  assert.ok((await checkpointRows(runId)) > 0, "a drained run keeps its checkpoint for the execution that resumes it");

  const resumed = recorded(rt.checkpointer);
  const outcome = await executeRun(rt.deps({ checkpointer: resumed.saver }), runId);
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  assert.equal(resumed.calls[0], "getTuple", `resumed execution: ${resumed.calls.join(", ")}`);
  assert.equal(resumed.calls.at(-1), "deleteThread");
  assert.ok(!resumed.calls.includes("put"), "the ending graph's checkpoint was not written");
  assert.deepEqual((await rt.steps(runId)).map((s) => s.status), ["closed", "closed", "closed", "closed", "closed"]);
  assert.equal(await checkpointRows(runId), 0, "a finished run leaves no checkpoint behind");
});
