import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadSwarmFile } from "../../../workers/swarm/spec/load.ts";
import { executeRun } from "../../../workers/swarm/runtime/executor.ts";
import { EXAMPLES } from "../spec/helpers.ts";
import { simulated, startRuntimeStack, type RuntimeStack } from "./helpers.ts";

// Every example swarm runs end to end against the simulated models, as under `godotz dev --simulate`.
const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith(".yaml")).sort();

let rt: RuntimeStack;
before(async () => {
  rt = await startRuntimeStack();
});
after(async () => {
  await rt?.close();
});

test("there are example swarms to run", () => {
  assert.ok(files.length >= 3, `examples/: ${files.join(", ")}`);
});

for (const file of files) {
  test(`examples/${file} runs to completion with simulated models`, async () => {
    const loaded = await loadSwarmFile(path.join(EXAMPLES, file), { catalogue: simulated });
    const runId = await rt.start(loaded, `A question for the ${loaded.spec.name} example`);
    const outcome = await executeRun(rt.deps(), runId);
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    assert.ok(outcome.output && outcome.output.length > 0);
    const steps = await rt.steps(runId);
    assert.ok(steps.length >= 3 && steps.every((s) => s.status === "closed"), steps.map((s) => `${s.assignee}:${s.status}:${s.error}`).join(", "));
    // Every worker of the topology took a turn.
    const agents = new Set(steps.map((s) => s.assignee));
    for (const worker of loaded.spec.topology.workers) assert.ok(agents.has(worker), `${worker} never worked`);
  });
}
