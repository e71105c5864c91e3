import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type ReplayWorkerOptions } from "@temporalio/worker";
import { DeterminismViolationError } from "@temporalio/workflow";
import type proto from "@temporalio/proto";
import { CRITIC_REVIEW_PATCH, FAN_OUT_PATCH } from "../../workers/temporal/plan.ts";
import { WORKFLOWS_PATH } from "../../workers/temporal/worker.ts";
import { historyFromJson } from "./history-json.ts";
import { scenarios } from "./scenarios.ts";
import type { ScheduledCommand } from "./variants/record-commands.ts";

/**
 * Replays recorded histories (test/temporal/histories/*.json, Temporal's JSON history format)
 * through the real Temporal worker. No server takes part: Worker.runReplayHistory feeds the
 * history to the workflow code and fails on any command that does not match it.
 */

// Replays that are meant to fail make core log their nondeterminism; only real errors are shown.
Runtime.install({ logger: new DefaultLogger("ERROR"), telemetryOptions: { logging: { filter: { core: "ERROR", other: "ERROR" }, forward: {} } } });

type History = proto.temporal.api.history.v1.IHistory;
const HISTORIES = new URL("./histories/", import.meta.url);
const quiet = new DefaultLogger("ERROR");
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The workflow id each fixture ran under: the scripted one, or (recorded histories) the run id in its input. */
function workflowIdOf(name: string, history: History): string {
  const scripted = scenarios[name];
  if (scripted) return scripted().workflowId;
  const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  return (JSON.parse(new TextDecoder().decode(input.data!)) as { runId: string }).runId;
}

function loadFixtures(): { name: string; workflowId: string; json: unknown; history: History }[] {
  return readdirSync(HISTORIES)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => {
      const json = JSON.parse(readFileSync(new URL(file, HISTORIES), "utf8")) as unknown;
      const name = file.replace(/\.json$/, "");
      const history = historyFromJson(json);
      return { name, workflowId: workflowIdOf(name, history), json, history };
    });
}

/** The fixture's events up to and including the supervisor's last (or `which`th) answer, then a workflow task not yet completed. */
function cutAfterLastSupervisorAnswer(json: unknown, which = -1): History {
  const events = structuredClone((json as { events: Record<string, unknown>[] }).events);
  const superviseIds = events
    .filter((e) => (e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | undefined)?.activityType?.name === "supervise")
    .map((e) => e.eventId);
  const last = superviseIds.at(which);
  const answered = events.findIndex((e) => (e.activityTaskCompletedEventAttributes as { scheduledEventId?: string } | undefined)?.scheduledEventId === last);
  assert.ok(answered > 0, "the fixture has a supervisor answer");
  const kept = events.slice(0, answered + 1);
  const next = kept.length + 1;
  kept.push(
    { eventId: String(next), eventTime: "2026-01-01T13:00:00Z", eventType: "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", workflowTaskScheduledEventAttributes: { taskQueue: { name: "godotz-swarms", kind: "TASK_QUEUE_KIND_NORMAL" }, startToCloseTimeout: "10s", attempt: 1 } },
    { eventId: String(next + 1), eventTime: "2026-01-01T13:00:01Z", eventType: "EVENT_TYPE_WORKFLOW_TASK_STARTED", workflowTaskStartedEventAttributes: { scheduledEventId: String(next), identity: "upgraded-worker", requestId: "after-upgrade" } },
  );
  return historyFromJson({ events: kept });
}

describe("swarmRun replay", () => {
  let current: { code: string };
  let unguarded: { code: string };
  let v1Only: { code: string };
  let v2Only: { code: string };
  let recording: { code: string };
  const fixtures = loadFixtures();

  before(async () => {
    current = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
    unguarded = await bundleWorkflowCode({ workflowsPath: here("./variants/unguarded-v2.ts"), logger: quiet });
    v1Only = await bundleWorkflowCode({ workflowsPath: here("./variants/v1-only.ts"), logger: quiet });
    v2Only = await bundleWorkflowCode({ workflowsPath: here("./variants/v2-only.ts"), logger: quiet });
    recording = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [here("./variants/record-commands.ts")], logger: quiet });
  });

  after(async () => {
    await Runtime.instance().shutdown();
  });

  test("the committed fixtures are what the scripts produce", () => {
    assert.deepEqual(fixtures.map((f) => f.name).sort(), Object.keys(scenarios).sort());
    for (const [name, build] of Object.entries(scenarios)) {
      const committed = readFileSync(new URL(`${name}.json`, HISTORIES), "utf8");
      assert.equal(committed, `${build().toJSON()}\n`, `${name}.json is stale: run node --import tsx test/temporal/histories/generate.ts`);
    }
  });

  test("every recorded history replays on the current workflow code (runReplayHistories)", async () => {
    const results: { workflowId: string; error: unknown }[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: current },
      fixtures.map((f) => ({ workflowId: f.workflowId, history: f.history })),
    )) {
      results.push({ workflowId: result.workflowId, error: result.error });
    }
    assert.equal(results.length, fixtures.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });

  test("runReplayHistory replays a single history under its workflow id", async () => {
    const v1 = fixtures.find((f) => f.name === "review-desk-v1")!;
    await Worker.runReplayHistory({ workflowBundle: current }, v1.history, v1.workflowId);
  });

  test("the v2 change made without patched() breaks runs recorded on v1", async () => {
    const v1 = fixtures.find((f) => f.name === "review-desk-v1")!;
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: unguarded }, v1.history, v1.workflowId),
      (err: unknown) => err instanceof DeterminismViolationError && /Nondeterminism/i.test(err.message),
    );
    // The same history replays on the guarded code: `patched` finds no marker and keeps it on v1.
    await Worker.runReplayHistory({ workflowBundle: current }, v1.history, v1.workflowId);
  });

  test("rolling workers back to v1 would strand runs that started on v2", async () => {
    const recordedOnV2 = (f: (typeof fixtures)[number]) => (f.json as { events: Record<string, unknown>[] }).events.some((e) => e.markerRecordedEventAttributes);
    assert.ok(fixtures.some(recordedOnV2) && fixtures.some((f) => !recordedOnV2(f)));
    for (const f of fixtures) {
      const replay = Worker.runReplayHistory({ workflowBundle: v1Only }, f.history, f.workflowId);
      if (!recordedOnV2(f)) await replay;
      else await assert.rejects(replay, DeterminismViolationError, `${f.name} should not replay on v1-only code`);
    }
  });

  test("rolling workers back to v2 would strand runs that started on v3; v1 and v2 runs replay on it", async () => {
    const markers = (f: (typeof fixtures)[number]) =>
      (f.json as { events: Record<string, unknown>[] }).events.filter((e) => e.markerRecordedEventAttributes).length;
    assert.ok(fixtures.some((f) => markers(f) === 2), "a v3 fixture records both patches");
    for (const f of fixtures) {
      const replay = Worker.runReplayHistory({ workflowBundle: v2Only }, f.history, f.workflowId);
      if (markers(f) < 2) await replay;
      else await assert.rejects(replay, DeterminismViolationError, `${f.name} should not replay on v2-only code`);
    }
  });

  test("a corrupted history is refused as non-deterministic, not silently accepted", async () => {
    const v1 = fixtures.find((f) => f.name === "review-desk-v1")!;
    const json = structuredClone(v1.json) as { events: Record<string, { activityType?: { name: string } }>[] };
    const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === "work")!;
    scheduled.activityTaskScheduledEventAttributes!.activityType = { name: "review" };
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: current }, historyFromJson(json), v1.workflowId), DeterminismViolationError);
  });

  test("histories that are not histories fail with a clear error", async () => {
    assert.throws(() => historyFromJson({}), /non-empty `events`/);
    assert.throws(() => historyFromJson({ events: [{ eventId: "1" }] }), /EventAttributes/);
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: current }, null as unknown as History), TypeError);
  });

  describe("which version a run takes", () => {
    async function scheduledWhileLive(history: History, workflowId: string): Promise<ScheduledCommand[]> {
      const seen: ScheduledCommand[] = [];
      const options: ReplayWorkerOptions = {
        workflowBundle: recording,
        sinks: { commands: { scheduled: { fn: (_info: unknown, command: ScheduledCommand) => void seen.push(command), callDuringReplay: true } } },
      };
      await Worker.runReplayHistory(options, history, workflowId);
      return JSON.parse(JSON.stringify(seen.filter((c) => !c.replaying))) as ScheduledCommand[];
    }

    test("a new run records both patches and is on v3 from its first workflow task", async () => {
      const v1 = fixtures.find((f) => f.name === "review-desk-v1")!;
      // Only the start: the first workflow task runs live, as on a freshly started workflow.
      const fresh = historyFromJson({ events: (v1.json as { events: unknown[] }).events.slice(0, 3) });
      const live = await scheduledWhileLive(fresh, "run_fresh");
      assert.deepEqual(live, [{ activityType: "runUpdate", replaying: false, patches: [CRITIC_REVIEW_PATCH, FAN_OUT_PATCH] }]);
    });

    test("a run on v3 fans out after an upgrade: every branch the supervisor named is scheduled in one workflow task", async () => {
      const v3 = fixtures.find((f) => f.name === "scout-desk-fan-out-v3")!;
      const live = await scheduledWhileLive(cutAfterLastSupervisorAnswer(v3.json, 0), v3.workflowId);
      assert.deepEqual(live, [
        { activityType: "work", replaying: false, patches: [CRITIC_REVIEW_PATCH, FAN_OUT_PATCH] },
        { activityType: "work", replaying: false, patches: [CRITIC_REVIEW_PATCH, FAN_OUT_PATCH] },
      ]);
    });

    test("a run that started on v1 stays on v1 for decisions taken after the upgrade", async () => {
      const v1 = fixtures.find((f) => f.name === "review-desk-v1")!;
      const live = await scheduledWhileLive(cutAfterLastSupervisorAnswer(v1.json), v1.workflowId);
      // The supervisor finished; on v1 the run ends without asking the critic.
      assert.deepEqual(live, [{ activityType: "runUpdate", replaying: false, patches: [] }]);
    });

    test("a run that started on v2 sends the final answer to its critics", async () => {
      const v2 = fixtures.find((f) => f.name === "review-desk-v2")!;
      const live = await scheduledWhileLive(cutAfterLastSupervisorAnswer(v2.json), v2.workflowId);
      assert.deepEqual(live, [{ activityType: "review", replaying: false, patches: [CRITIC_REVIEW_PATCH] }]);
    });
  });
});
