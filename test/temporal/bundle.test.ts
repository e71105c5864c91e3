import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DefaultLogger, bundleWorkflowCode } from "@temporalio/worker";
import { WORKFLOWS_PATH } from "../../workers/temporal/worker.ts";

// The workflow bundle is what Temporal's worker runs in its deterministic sandbox; building it
// fails when workflow code imports a Node built-in or a module that does I/O.
const quiet = new DefaultLogger("ERROR");

describe("workflow bundle", () => {
  test("workflows.ts bundles, and exports the swarmRun workflow", async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
    assert.ok(bundle.code.length > 0);
    assert.match(bundle.code, /swarmRun/);
    // Nothing of the activity side (database, gateway, zod schemas) made it into the sandbox.
    assert.doesNotMatch(bundle.code, /postgres|createActivities|swarmSchema/);
  });

  test("a workflow module that imports I/O code is refused", async () => {
    await assert.rejects(
      bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL("./variants/imports-io.ts", import.meta.url)), logger: quiet }),
      /disallowed modules[\s\S]*@temporalio\/activity/,
    );
  });
});
