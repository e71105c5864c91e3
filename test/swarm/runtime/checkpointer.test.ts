import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MemorySaver, emptyCheckpoint, type BaseCheckpointSaver } from "@langchain/langgraph";
import { FreshThreadSaver } from "../../../workers/swarm/runtime/checkpointer.ts";
import { executeRun } from "../../../workers/swarm/runtime/executor.ts";
import { startRuntimeStack, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

/** The checkpointer with every call it gets recorded, by method name, in order. */
function recorded<T extends BaseCheckpointSaver>(saver: T): { saver: T; calls: string[] } {
  const calls: string[] = [];
  const methods = new Set(["getTuple", "list", "put", "putWrites"]);
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
  const fresh = new FreshThreadSaver(inner.saver, "run-1");
  assert.equal(await fresh.getTuple(config("run-1")), undefined);
  assert.deepEqual(await collect(fresh.list(config("run-1"))), []);
  assert.deepEqual(inner.calls, [], "no read reached the wrapped checkpointer");

  const checkpoint = emptyCheckpoint();
  await fresh.put(config("run-1"), checkpoint, metadata, {});
  const read = await fresh.getTuple(config("run-1"));
  assert.equal(read?.checkpoint.id, checkpoint.id, "once written, reads go to the wrapped checkpointer");
  assert.equal((await collect(fresh.list(config("run-1")))).length, 1);
  assert.deepEqual(inner.calls, ["put", "getTuple", "list"]);
});

test("another thread, and pending writes, go to the wrapped checkpointer from the start", async () => {
  const inner = new MemorySaver();
  const other = emptyCheckpoint();
  await inner.put(config("run-2"), other, metadata);
  const fresh = new FreshThreadSaver(inner, "run-1");
  assert.equal((await fresh.getTuple(config("run-2")))?.checkpoint.id, other.id);

  await fresh.putWrites({ configurable: { thread_id: "run-1", checkpoint_ns: "", checkpoint_id: other.id } }, [["turns", []]], "task-1");
  assert.equal(await fresh.getTuple(config("run-1")), undefined, "the wrapped saver has no checkpoint for it, and is asked now");
  assert.equal(fresh.getNextVersion(undefined), inner.getNextVersion(undefined));
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

test("a run's first execution reads no checkpoint before it writes one; a resumed execution reads it first", async () => {
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
  assert.deepEqual((await rt.steps(runId)).map((s) => s.status), ["closed", "closed", "closed", "closed", "closed"]);
  assert.equal(await checkpointRows(runId), 0, "a finished run leaves no checkpoint behind");
});

test("a run that finishes in one execution leaves no checkpoint rows; neither does one that fails", async () => {
  const completed = await rt.run(await rt.load(TWO_WORKERS), "done");
  assert.equal(completed.status, "completed", completed.error ?? "");
  assert.equal(await checkpointRows(completed.runId), 0);
  const failing = await rt.load(TWO_WORKERS.replace("max_turns: 6", "max_turns: 1"));
  const failed = await rt.run(failing, "too long");
  assert.equal(failed.status, "failed");
  assert.equal(await checkpointRows(failed.runId), 0);
});
