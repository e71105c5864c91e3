import { ApplicationFailure } from "@temporalio/common";
import { swarmSchema } from "../../workers/swarm/spec/schema.ts";
import {
  CRITIC_REVIEW_PATCH,
  FAN_OUT_PATCH,
  PERMANENT_ERROR,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  bookkeepingPolicy,
  maxTurnsError,
  modelAgent,
  modelStepPolicy,
  routingChoices,
  stepPath,
  taskWithWork,
  type ActivityPolicy,
  type PanelAnswer,
  type SupervisorDecision,
  type SwarmDefinition,
  type SwarmRunInput,
  type SwarmRunResult,
  type TurnRecord,
} from "../../workers/temporal/plan.ts";
import { HistoryBuilder, type ActivityOptions, type ScheduledActivity } from "./history-builder.ts";

/**
 * Scripted runs of the swarmRun workflow, written as the histories a Temporal server would keep
 * for them. Each script follows the workflow's code step by step: which activities each workflow
 * task schedules (in order), what they return, which signals arrive. `generate.ts` writes them
 * to histories/*.json; replay.test.ts replays the committed files with the real worker.
 *
 * When workflows.ts changes in a way that is meant to be compatible, these histories must still
 * replay; a script is only edited to add a new scenario, never to follow an incompatible change.
 */

export const reviewDesk: SwarmDefinition = {
  spec: swarmSchema.parse({
    name: "review-desk",
    version: 1,
    agents: {
      lead: { type: "supervisor", model: "glm-5.1", instructions: "Route the work; finish with the answer." },
      writer: { type: "worker", model: "glm-4.7", role: "writes drafts" },
      critic: { type: "critic", family: "claude", role: "finds faults" },
    },
    topology: { supervisor: "lead", workers: ["writer"], max_turns: 5 },
  }),
};

const research: SwarmDefinition = {
  spec: swarmSchema.parse({
    name: "research",
    version: "2",
    agents: {
      chief: { type: "supervisor", model: "glm-5.1" },
      searcher: { type: "worker", model: "gemini-3.1-pro-low" },
    },
    topology: { supervisor: "chief", workers: ["searcher"] },
  }),
};

export const roundTable: SwarmDefinition = {
  spec: swarmSchema.parse({
    name: "round-table",
    version: 3,
    agents: {
      lead: { type: "supervisor", model: "glm-5.1" },
      ada: { type: "worker", family: "claude" },
      bo: { type: "worker", family: "gemini" },
      coder: { type: "worker", model: "glm-4.7", limits: { max_attempts: 2, timeout_seconds: 60 } },
      researcher: { type: "swarm", swarm: "research.yaml", role: "looks things up" },
    },
    panels: { council: { agents: ["ada", "bo"], rounds: 2, role: "decides together" } },
    topology: { supervisor: "lead", workers: ["council", "coder", "researcher"], max_turns: 8 },
  }),
  subswarms: { researcher: research },
};

function seconds(d: string): { seconds: number } {
  return { seconds: Number(d.replace(/s$/, "")) };
}

function options(policy: ActivityPolicy): ActivityOptions {
  const r = policy.retry;
  return {
    startToCloseTimeout: seconds(policy.startToCloseTimeout),
    heartbeatTimeout: seconds(policy.heartbeatTimeout),
    retry: {
      initialInterval: seconds(r.initialInterval),
      backoffCoefficient: r.backoffCoefficient,
      maximumInterval: seconds(r.maximumInterval),
      maximumAttempts: r.maximumAttempts,
      nonRetryableErrorTypes: r.nonRetryableErrorTypes,
    },
  };
}

/** Builds one run's history alongside the state the workflow keeps, so activity inputs match. */
class Script {
  readonly h: HistoryBuilder;
  readonly transcript: TurnRecord[] = [];
  private readonly prefix: string;
  private steps = 0;

  constructor(
    readonly input: SwarmRunInput,
    temporalRunId: string,
    parent?: { workflowId: string; runId: string; initiatedId: number },
    workflowId = input.runId,
  ) {
    this.prefix = input.stepPrefix ?? "";
    this.h = new HistoryBuilder(workflowId, temporalRunId, { workflowType: WORKFLOW_TYPE, taskQueue: TASK_QUEUE, args: [input], ...(parent ? { parent } : {}) });
  }

  get spec() {
    return this.input.swarm.spec;
  }

  /** The next step path, numbered as the workflow numbers them. */
  nextStep(): string {
    return stepPath(this.prefix, this.steps++);
  }

  ref(agent: string, step: string) {
    return { runId: this.input.runId, swarm: this.input.runSwarm ?? this.spec.name, agent, step, agentSwarm: this.spec.name };
  }

  runUpdate(status: string, extra: object = {}): ScheduledActivity {
    return this.h.scheduleActivity("runUpdate", { runId: this.input.runId, swarm: this.spec.name, status, ...extra }, options(bookkeepingPolicy));
  }

  supervise(turn: number, maxParallel?: number): ScheduledActivity {
    const name = this.spec.topology.supervisor;
    const spec = modelAgent(this.spec, name);
    const width = maxParallel === undefined ? {} : { maxParallel };
    const input = { ...this.ref(name, this.nextStep()), spec, task: this.input.input, workers: routingChoices(this.spec), transcript: [...this.transcript], turn, ...width };
    return this.h.scheduleActivity("supervise", input, options(modelStepPolicy(spec.limits)));
  }

  work(name: string, step: string, instruction: string): ScheduledActivity {
    const spec = modelAgent(this.spec, name);
    const input = { ...this.ref(name, step), spec, task: this.input.input, instruction, transcript: [...this.transcript] };
    return this.h.scheduleActivity("work", input, options(modelStepPolicy(spec.limits)));
  }

  deliberate(name: string, step: string, round: number, panel: string, previousRound: PanelAnswer[]): ScheduledActivity {
    const spec = modelAgent(this.spec, name);
    const role = this.spec.panels[panel]?.role;
    const input = { ...this.ref(name, `${step}.r${round}-${name}`), spec, task: this.input.input, panel, ...(role === undefined ? {} : { panelRole: role }), round, previousRound, transcript: [...this.transcript] };
    return this.h.scheduleActivity("deliberate", input, options(modelStepPolicy(spec.limits)));
  }

  review(name: string, step: string, answer: string): ScheduledActivity {
    const spec = modelAgent(this.spec, name);
    const input = { ...this.ref(name, `${step}.review-${name}`), spec, task: this.input.input, answer };
    return this.h.scheduleActivity("review", input, options(modelStepPolicy(spec.limits)));
  }

  stepFailed(agent: string, step: string, error: string, cancelled: boolean): ScheduledActivity {
    const { agentSwarm: _, ...ref } = this.ref(agent, step);
    return this.h.scheduleActivity("stepFailed", { ...ref, error, cancelled }, options(bookkeepingPolicy));
  }

  /** The supervisor's turn: scheduled in this workflow task, answered before the next. */
  decide(turn: number, decision: SupervisorDecision): this {
    this.h.completeActivity(this.supervise(turn), decision);
    this.h.workflowTask();
    return this;
  }

  /** The last step path handed out. */
  get lastStep(): string {
    return stepPath(this.prefix, this.steps - 1);
  }
}

const INPUT = "Write a two-line release note for godotz 0.2.";

/** v1: the supervisor routes to the writer once, then finishes; no review by the critic. */
export function reviewDeskV1(): HistoryBuilder {
  const s = new Script({ runId: "run_v1review", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-0001-4000-8000-000000000001");
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  s.decide(1, { next: "writer", instruction: "Draft the note." });
  const step = s.nextStep();
  s.h.completeActivity(s.work("writer", step, "Draft the note."), "godotz 0.2: Temporal engine. Faster gateway.");
  s.transcript.push({ step, node: "writer", instruction: "Draft the note.", status: "completed", output: "godotz 0.2: Temporal engine. Faster gateway." });
  s.h.workflowTask();
  const answer = "godotz 0.2 runs swarms on Temporal.\nThe gateway got faster.";
  s.decide(2, { finish: answer });
  s.h.completeActivity(s.runUpdate("completed", { output: answer }), { status: "completed" });
  s.h.workflowTask();
  const result: SwarmRunResult = { status: "completed", output: answer, turns: 2 };
  return s.h.complete(result);
}

/** v2: the same run on the patched workflow: the marker first, and the critic reviews the answer. */
export function reviewDeskV2(): HistoryBuilder {
  const s = new Script({ runId: "run_v2review", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-0002-4000-8000-000000000002");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  s.decide(1, { next: "writer", instruction: "Draft the note." });
  const step = s.nextStep();
  s.h.completeActivity(s.work("writer", step, "Draft the note."), "godotz 0.2: Temporal engine.");
  s.transcript.push({ step, node: "writer", instruction: "Draft the note.", status: "completed", output: "godotz 0.2: Temporal engine." });
  s.h.workflowTask();
  const answer = "godotz 0.2 runs swarms on Temporal.";
  s.decide(2, { finish: answer });
  const review = { agent: "critic", review: "Accurate; mention the gateway too." };
  s.h.completeActivity(s.review("critic", s.lastStep, answer), review);
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("completed", { output: answer }), { status: "completed" });
  s.h.workflowTask();
  return s.h.complete({ status: "completed", output: answer, turns: 2, reviews: [review] } satisfies SwarmRunResult);
}

const ROUND_TABLE_INPUT = "Should the fleet move to NATS 3?";
export const ROUND_TABLE_RUN = "run_roundtable";
const NESTED_STEP = "5";
const NESTED_WORKFLOW_ID = `${ROUND_TABLE_RUN}/${NESTED_STEP}`;
const NESTED_RESULT: SwarmRunResult = { status: "completed", output: "NATS 3 is stable since March.", turns: 1 };

/**
 * v2 with every kind of node: a two-round panel vote, a worker whose call fails for good (400
 * from the gateway; the supervisor reads the error), and a nested swarm as a child workflow.
 */
export function roundTableV2(): HistoryBuilder {
  const s = new Script({ runId: ROUND_TABLE_RUN, swarm: roundTable, input: ROUND_TABLE_INPUT }, "7a1c3f0e-0003-4000-8000-000000000003");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();

  const ask = "Vote: move to NATS 3 now or later?";
  s.decide(1, { next: "council", instruction: ask });
  const panelStep = s.nextStep();
  const r1 = [
    { agent: "ada", answer: "Now", confidence: 0.6 },
    { agent: "bo", answer: "Later", confidence: 0.9 },
  ];
  const round1 = ["ada", "bo"].map((m) => s.deliberate(m, panelStep, 1, "council", []));
  round1.forEach((a, i) => s.h.completeActivity(a, r1[i]));
  s.h.workflowTask();
  const r2 = [
    { agent: "ada", answer: "later ", confidence: 0.7 },
    { agent: "bo", answer: "Later", confidence: 0.8 },
  ];
  const round2 = ["ada", "bo"].map((m) => s.deliberate(m, panelStep, 2, "council", r1));
  round2.forEach((a, i) => s.h.completeActivity(a, r2[i]));
  s.h.workflowTask();
  s.transcript.push({ step: panelStep, node: "council", instruction: ask, status: "completed", output: "later" });

  const code = "Write the migration script.";
  s.h.completeActivity(s.supervise(2), { next: "coder", instruction: code });
  s.h.workflowTask();
  const coderStep = s.nextStep();
  const message = "gateway answered 400: max_tokens is too large for glm-4.7";
  s.h.failActivity(s.work("coder", coderStep, code), ApplicationFailure.create({ type: PERMANENT_ERROR, message, nonRetryable: true, details: [{ status: 400, attempt: 1 }] }));
  s.h.workflowTask();
  s.h.completeActivity(s.stepFailed("coder", coderStep, message, false), undefined);
  s.h.workflowTask();
  s.transcript.push({ step: coderStep, node: "coder", instruction: code, status: "failed", output: message });

  const look = "Find out when NATS 3 became stable.";
  s.h.completeActivity(s.supervise(3), { next: "researcher", instruction: look });
  s.h.workflowTask();
  const nestedStep = s.nextStep();
  if (nestedStep !== NESTED_STEP) throw new Error(`the nested swarm runs at step ${nestedStep}, not ${NESTED_STEP}`);
  const child = s.h.startChild(NESTED_WORKFLOW_ID, WORKFLOW_TYPE, nestedInput(taskWithWork(ROUND_TABLE_INPUT, s.transcript)));
  s.h.childStarted(child, WORKFLOW_TYPE);
  s.h.workflowTask();
  s.h.childCompleted(child, WORKFLOW_TYPE, NESTED_RESULT);
  s.h.workflowTask();
  s.transcript.push({ step: nestedStep, node: "researcher", instruction: look, status: "completed", output: NESTED_RESULT.output! });

  const answer = "Move later: NATS 3 is stable, but the migration script is not written yet.";
  s.decide(4, { finish: answer });
  s.h.completeActivity(s.runUpdate("completed", { output: answer }), { status: "completed" });
  s.h.workflowTask();
  return s.h.complete({ status: "completed", output: answer, turns: 4 } satisfies SwarmRunResult);
}

function nestedInput(task: string): SwarmRunInput {
  return { runId: ROUND_TABLE_RUN, runSwarm: roundTable.spec.name, swarm: research, input: task, stepPrefix: `${NESTED_STEP}.` };
}

/** The nested swarm's own history: a child workflow that shares the run and keeps no run row. */
export function researchChildV2(): HistoryBuilder {
  const parentTranscript: TurnRecord[] = [
    { step: "1", node: "council", instruction: "", status: "completed", output: "later" },
    { step: "3", node: "coder", instruction: "", status: "failed", output: "gateway answered 400: max_tokens is too large for glm-4.7" },
  ];
  const input = nestedInput(taskWithWork(ROUND_TABLE_INPUT, parentTranscript));
  const s = new Script(input, "7a1c3f0e-0004-4000-8000-000000000004", { workflowId: ROUND_TABLE_RUN, runId: "7a1c3f0e-0003-4000-8000-000000000003", initiatedId: 57 }, NESTED_WORKFLOW_ID);
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.decide(1, { finish: NESTED_RESULT.output! });
  return s.h.complete(NESTED_RESULT);
}

/** v2, cancelled with the `cancel` signal while the writer's call is in flight. */
export function reviewDeskCancelledV2(): HistoryBuilder {
  const s = new Script({ runId: "run_cancelled", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-0005-4000-8000-000000000005");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  s.decide(1, { next: "writer", instruction: "Draft the note." });
  const step = s.nextStep();
  const writing = s.work("writer", step, "Draft the note.");
  s.h.signal("cancel", "the user pressed stop");
  s.h.workflowTask();
  s.h.requestCancelActivity(writing);
  const recorded = s.stepFailed("writer", step, "Activity cancelled", true);
  s.h.activityCanceled(writing);
  s.h.workflowTask();
  s.h.completeActivity(recorded, undefined);
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("cancelled", { error: "the user pressed stop" }), { status: "cancelled" });
  s.h.workflowTask();
  return s.h.complete({ status: "cancelled", error: "the user pressed stop", turns: 1 } satisfies SwarmRunResult);
}

const loopDesk: SwarmDefinition = {
  spec: swarmSchema.parse({
    name: "loop-desk",
    version: 1,
    agents: {
      lead: { type: "supervisor", model: "glm-5.1" },
      writer: { type: "worker", model: "glm-4.7" },
    },
    topology: { supervisor: "lead", workers: ["writer"], max_turns: 2 },
  }),
};

/** v2: the supervisor never finishes; after max_turns decisions the run fails. */
export function loopDeskMaxTurnsV2(): HistoryBuilder {
  const s = new Script({ runId: "run_maxturns", swarm: loopDesk, input: INPUT }, "7a1c3f0e-0006-4000-8000-000000000006");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  for (let turn = 1; turn <= 2; turn++) {
    s.decide(turn, { next: "writer", instruction: "Again." });
    const step = s.nextStep();
    s.h.completeActivity(s.work("writer", step, "Again."), `draft ${turn}`);
    s.transcript.push({ step, node: "writer", instruction: "Again.", status: "completed", output: `draft ${turn}` });
    s.h.workflowTask();
  }
  const error = maxTurnsError(2);
  s.h.completeActivity(s.runUpdate("failed", { error }), { status: "failed" });
  s.h.workflowTask();
  return s.h.complete({ status: "failed", error, turns: 2 } satisfies SwarmRunResult);
}

/** v2: the supervisor's own call fails for good (403 from the gateway): the step and the run fail. */
export function reviewDeskSupervisorFailsV2(): HistoryBuilder {
  const s = new Script({ runId: "run_bossfails", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-0007-4000-8000-000000000007");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  const message = "gateway answered 403: model glm-5.1 is not allowed for this key";
  s.h.failActivity(s.supervise(1), ApplicationFailure.create({ type: PERMANENT_ERROR, message, nonRetryable: true, details: [{ status: 403, attempt: 1 }] }));
  s.h.workflowTask();
  s.h.completeActivity(s.stepFailed("lead", s.lastStep, message, false), undefined);
  s.h.workflowTask();
  const error = `the supervisor lead failed: ${message}`;
  s.h.completeActivity(s.runUpdate("failed", { error }), { status: "failed" });
  s.h.workflowTask();
  return s.h.complete({ status: "failed", error, turns: 1 } satisfies SwarmRunResult);
}

/** v2, cancelled through Temporal (the UI, `temporal workflow cancel`) while the writer works. */
export function reviewDeskWorkflowCancelledV2(): HistoryBuilder {
  const s = new Script({ runId: "run_wfcancel", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-0008-4000-8000-000000000008");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  s.decide(1, { next: "writer", instruction: "Draft the note." });
  const step = s.nextStep();
  const writing = s.work("writer", step, "Draft the note.");
  s.h.cancelRequested("operator stopped it");
  s.h.workflowTask();
  s.h.requestCancelActivity(writing);
  const recorded = s.stepFailed("writer", step, "Activity cancelled", true);
  s.h.activityCanceled(writing);
  s.h.workflowTask();
  s.h.completeActivity(recorded, undefined);
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("cancelled", { error: "the workflow was cancelled" }), { status: "cancelled" });
  s.h.workflowTask();
  return s.h.canceled();
}

/** A start with a malformed input (no swarm): the workflow fails at once, recording nothing. */
export function malformedInput(): HistoryBuilder {
  const h = new HistoryBuilder("run_malformed", "7a1c3f0e-0009-4000-8000-000000000009", {
    workflowType: WORKFLOW_TYPE,
    taskQueue: TASK_QUEUE,
    args: [{ runId: "run_malformed", swarm: { name: "not-loaded" }, input: "x" }],
  });
  h.workflowTask();
  return h.failed(ApplicationFailure.nonRetryable("swarmRun: swarm must be a loaded swarm ({ spec } with agents and topology)", "InvalidSwarmRunInput"));
}

/** A run cancelled while queued (`godotz runs cancel`): its workflow starts, sees it, and runs nothing. */
export function cancelledBeforeStartV2(): HistoryBuilder {
  const s = new Script({ runId: "run_cancelledearly", swarm: reviewDesk, input: INPUT }, "7a1c3f0e-000a-4000-8000-00000000000a");
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.completeActivity(s.runUpdate("running"), { status: "cancelled" });
  s.h.workflowTask();
  return s.h.complete({ status: "cancelled", error: "the run was already cancelled when its workflow started", turns: 0 } satisfies SwarmRunResult);
}

export const scoutDesk: SwarmDefinition = {
  spec: swarmSchema.parse({
    name: "scout-desk",
    version: 1,
    agents: {
      lead: { type: "supervisor", model: "glm-5.1", instructions: "Send the scouts out together, then have the writer merge." },
      web: { type: "worker", family: "gemini", role: "searches the web" },
      papers: { type: "worker", model: "claude-sonnet-4.5", role: "reads papers" },
      writer: { type: "worker", model: "glm-4.7", role: "merges the findings" },
    },
    topology: { supervisor: "lead", workers: ["web", "papers", "writer"], max_parallel: 2, max_turns: 5 },
  }),
};

/**
 * v3: the supervisor fans out to two workers at once. Both activities are scheduled in one
 * workflow task; web answers first (a workflow task that schedules nothing), papers fails for
 * good (its failure is recorded), and the supervisor then sees both turns, in the order it named
 * them. A fan-out of one (the writer) follows, then FINISH.
 */
/** A v3 scout-desk run up to its first fan-out: the supervisor has sent web and papers out at once. */
function scoutsSentOutV3(runId: string, workflowRunId: string): { s: Script; scout: string; fanOut: string } {
  const s = new Script({ runId, swarm: scoutDesk, input: "How do teams cache LLM answers?" }, workflowRunId);
  s.h.workflowTask();
  s.h.patchMarker(CRITIC_REVIEW_PATCH);
  s.h.patchMarker(FAN_OUT_PATCH, [CRITIC_REVIEW_PATCH, FAN_OUT_PATCH]);
  s.h.completeActivity(s.runUpdate("running"), { status: "running" });
  s.h.workflowTask();
  const scout = "Find how teams cache answers.";
  s.h.completeActivity(s.supervise(1, 2), { parallel: ["web", "papers"], instruction: scout } satisfies SupervisorDecision);
  s.h.workflowTask();
  return { s, scout, fanOut: s.nextStep() };
}

export function scoutDeskFanOutV3(): HistoryBuilder {
  const { s, scout, fanOut } = scoutsSentOutV3("run_fanout", "7a1c3f0e-000b-4000-8000-00000000000b");
  const web = s.work("web", `${fanOut}.web`, scout);
  const papers = s.work("papers", `${fanOut}.papers`, scout);
  s.h.completeActivity(web, "Semantic caches keyed by embeddings [blog].");
  s.h.workflowTask();
  const message = "gateway answered 400: the prompt is too long for claude-sonnet-4.5";
  s.h.failActivity(papers, ApplicationFailure.create({ type: PERMANENT_ERROR, message, nonRetryable: true, details: [{ status: 400, attempt: 1 }] }));
  s.h.workflowTask();
  s.h.completeActivity(s.stepFailed("papers", `${fanOut}.papers`, message, false), undefined);
  s.h.workflowTask();
  s.transcript.push(
    { step: `${fanOut}.web`, node: "web", instruction: scout, status: "completed", output: "Semantic caches keyed by embeddings [blog]." },
    { step: `${fanOut}.papers`, node: "papers", instruction: scout, status: "failed", output: message },
  );

  const merge = "Merge what was found.";
  s.h.completeActivity(s.supervise(2, 2), { parallel: ["writer"], instruction: merge } satisfies SupervisorDecision);
  s.h.workflowTask();
  const writeStep = s.nextStep();
  const answer = "Teams cache answers in semantic caches keyed by embeddings.";
  s.h.completeActivity(s.work("writer", `${writeStep}.writer`, merge), answer);
  s.transcript.push({ step: `${writeStep}.writer`, node: "writer", instruction: merge, status: "completed", output: answer });
  s.h.workflowTask();

  s.h.completeActivity(s.supervise(3, 2), { finish: answer } satisfies SupervisorDecision);
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("completed", { output: answer }), { status: "completed" });
  s.h.workflowTask();
  return s.h.complete({ status: "completed", output: answer, turns: 3 } satisfies SwarmRunResult);
}

/** v3, cancelled with the `cancel` signal while both branches of a fan-out are in flight. */
export function scoutDeskFanOutCancelledV3(): HistoryBuilder {
  const { s, scout, fanOut } = scoutsSentOutV3("run_fanoutcancel", "7a1c3f0e-000c-4000-8000-00000000000c");
  const branches = ["web", "papers"].map((name) => s.work(name, `${fanOut}.${name}`, scout));
  s.h.signal("cancel", "the user pressed stop");
  s.h.workflowTask();
  // The scope's cancellation reaches both activities at once; then each branch records its step as cancelled.
  for (const b of branches) s.h.requestCancelActivity(b);
  const recorded = ["web", "papers"].map((name) => s.stepFailed(name, `${fanOut}.${name}`, "Activity cancelled", true));
  for (const b of branches) s.h.activityCanceled(b);
  s.h.workflowTask();
  for (const r of recorded) s.h.completeActivity(r, undefined);
  s.h.workflowTask();
  s.h.completeActivity(s.runUpdate("cancelled", { error: "the user pressed stop" }), { status: "cancelled" });
  s.h.workflowTask();
  return s.h.complete({ status: "cancelled", error: "the user pressed stop", turns: 1 } satisfies SwarmRunResult);
}

export const scenarios: Record<string, () => HistoryBuilder> = {
  "review-desk-v1": reviewDeskV1,
  "review-desk-v2": reviewDeskV2,
  "round-table-v2": roundTableV2,
  "research-child-v2": researchChildV2,
  "review-desk-cancelled-v2": reviewDeskCancelledV2,
  "loop-desk-max-turns-v2": loopDeskMaxTurnsV2,
  "review-desk-supervisor-fails-v2": reviewDeskSupervisorFailsV2,
  "review-desk-workflow-cancelled-v2": reviewDeskWorkflowCancelledV2,
  "malformed-input": malformedInput,
  "cancelled-before-start-v2": cancelledBeforeStartV2,
  "scout-desk-fan-out-v3": scoutDeskFanOutV3,
  "scout-desk-fan-out-cancelled-v3": scoutDeskFanOutCancelledV3,
};
