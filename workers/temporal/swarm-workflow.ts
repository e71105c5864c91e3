import { ApplicationFailure, CancellationScope, executeChild, isCancellation, log, proxyActivities, setHandler, workflowInfo } from "@temporalio/workflow";
import {
  WORKFLOW_TYPE,
  bookkeepingPolicy,
  criticsOf,
  fanOutWidth,
  initialNodes,
  maxTurnsError,
  modelAgent,
  modelStepPolicy,
  panelAgrees,
  resolveTarget,
  routingChoices,
  stepPath,
  tallyVotes,
  taskWithWork,
  type NodeState,
  type PanelAnswer,
  type Progress,
  type Review,
  type StepRef,
  type SwarmActivities,
  type SwarmRunInput,
  type SwarmRunResult,
  type Target,
  type TurnRecord,
} from "./plan.ts";
import { cancelSignal, progressQuery } from "./messages.ts";
import type { ModelAgentSpec } from "../swarm/spec/schema.ts";

/**
 * The swarm as a Temporal workflow: the same supervisor loop as the LangGraph runtime
 * (workers/swarm/runtime/graph.ts), with every model call an activity and every nested swarm a
 * child workflow. Deterministic code only: the decisions come from plan.ts, everything that
 * touches the world from activities.ts.
 *
 * The body is built by makeSwarmRun so that the versioned changes (critics review the final
 * answer, v2; the supervisor fans out, v3) sit behind a single gate: workflows.ts passes a
 * function of `patched(...)` calls that says the run's version; the replay tests build the same
 * body with the version forced, to show what an unguarded change breaks.
 */

export type SwarmRunWorkflow = (input: SwarmRunInput) => Promise<SwarmRunResult>;

/** The deepest message in a failure chain: ActivityFailure → ApplicationFailure says what went wrong. */
function failureMessage(err: unknown): string {
  let current: unknown = err;
  let message = String(err);
  for (let depth = 0; depth < 10 && current instanceof Error; depth++) {
    message = current.message || message;
    current = current.cause;
  }
  return message;
}

export const INVALID_INPUT_ERROR = "InvalidSwarmRunInput";

/** What is wrong with a workflow input, if anything (it comes from outside: a client, the CLI). */
function inputProblem(input: unknown): string | undefined {
  const i = input as Partial<SwarmRunInput> | null | undefined;
  if (!i || typeof i !== "object") return "the input must be { runId, swarm, input }";
  if (typeof i.runId !== "string" || !i.runId) return "runId must be a non-empty string";
  if (typeof i.input !== "string") return "input must be a string";
  const spec = i.swarm?.spec;
  if (!spec || typeof spec.name !== "string" || !spec.topology || !Array.isArray(spec.topology.workers) || !spec.agents) {
    return "swarm must be a loaded swarm ({ spec } with agents and topology)";
  }
  return undefined;
}

/** A step that failed for good; the supervisor's own failure ends the run. */
class SupervisorFailed extends Error {
  override name = "SupervisorFailed";
}

/**
 * `versionOf` is asked once, at the start of the run, so a run stays on the version it started
 * with for all its decisions, including those taken after a new worker version is deployed.
 */
export function makeSwarmRun(versionOf: () => number): SwarmRunWorkflow {
  return async function swarmRun(input: SwarmRunInput): Promise<SwarmRunResult> {
    // Checked before anything is recorded: a malformed start fails the workflow, not its tasks forever.
    const problem = inputProblem(input);
    if (problem) throw ApplicationFailure.nonRetryable(`swarmRun: ${problem}`, INVALID_INPUT_ERROR);
    const version = versionOf();
    const { spec } = input.swarm;
    const width = fanOutWidth(spec, version);
    const prefix = input.stepPrefix ?? "";
    const top = prefix === "";
    const runSwarm = input.runSwarm ?? spec.name;
    const books = proxyActivities<SwarmActivities>(bookkeepingPolicy);
    const progress: Progress = {
      runId: input.runId,
      swarm: spec.name,
      status: "running",
      turn: 0,
      maxTurns: spec.topology.max_turns,
      nodes: initialNodes(input.swarm),
      version,
    };
    setHandler(progressQuery, () => progress);
    log.info("swarm run started", { runId: input.runId, swarm: spec.name, stepPrefix: prefix, version });

    const loop = new CancellationScope();
    let cancelReason: string | undefined;
    setHandler(cancelSignal, (reason) => {
      cancelReason = reason || "cancelled by request";
      loop.cancel();
    });

    let steps = 0;
    const nextStep = () => stepPath(prefix, steps++);
    const node = (name: string): NodeState => {
      let found = progress.nodes.find((n) => n.name === name);
      if (!found) progress.nodes.push((found = { name, kind: "worker", status: "pending", steps: 0 }));
      return found;
    };
    const ref = (agent: string, step: string): StepRef => ({ runId: input.runId, swarm: runSwarm, agent, step });
    const modelActivities = (agent: ModelAgentSpec) => proxyActivities<SwarmActivities>(modelStepPolicy(agent.limits));

    /** Runs one node's step, keeping its state; a failure is recorded as the step's and rethrown. */
    async function tracked<T>(name: string, failedRef: StepRef | undefined, body: () => Promise<T>): Promise<T> {
      const state = node(name);
      state.status = "running";
      state.steps += 1;
      try {
        const value = await body();
        state.status = "completed";
        return value;
      } catch (err) {
        const cancelled = isCancellation(err);
        state.status = cancelled ? "cancelled" : "failed";
        state.error = failureMessage(err);
        if (failedRef) await CancellationScope.nonCancellable(() => books.stepFailed({ ...failedRef, error: state.error!, cancelled }));
        throw err;
      }
    }

    async function runPanel(target: Extract<Target, { kind: "panel" }>, step: string, transcript: TurnRecord[]): Promise<string> {
      let answers: PanelAnswer[] = [];
      let members = target.panel.agents;
      for (let round = 1; round <= target.panel.rounds; round++) {
        const previous = answers;
        const settled = await Promise.allSettled(
          members.map((agent) => {
            const agentSpec = modelAgent(spec, agent);
            const stepRef = ref(agent, `${step}.r${round}-${agent}`);
            const panelRole = target.panel.role === undefined ? {} : { panelRole: target.panel.role };
            return tracked(agent, stepRef, () =>
              modelActivities(agentSpec).deliberate({ ...stepRef, agentSwarm: spec.name, spec: agentSpec, task: input.input, panel: target.name, ...panelRole, round, previousRound: previous, transcript }),
            );
          }),
        );
        const failure = settled.find((s) => s.status === "rejected");
        if (failure && isCancellation(failure.reason)) throw failure.reason;
        answers = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
        // A panelist that failed for good does not vote, nor sit the later rounds.
        if (answers.length === 0) throw new Error(`panel ${target.name}: every panelist failed in round ${round}`);
        members = answers.map((a) => a.agent);
        if (panelAgrees(answers)) break;
      }
      return tallyVotes(answers).answer;
    }

    async function runTarget(target: Target, step: string, instruction: string, transcript: TurnRecord[]): Promise<string> {
      if (target.kind === "worker") {
        const stepRef = ref(target.name, step);
        return tracked(target.name, stepRef, () =>
          modelActivities(target.spec).work({ ...stepRef, agentSwarm: spec.name, spec: target.spec, task: input.input, instruction, transcript }),
        );
      }
      if (target.kind === "panel") return tracked(target.name, undefined, () => runPanel(target, step, transcript));
      return tracked(target.name, ref(target.name, step), async () => {
        const child = await executeChild<SwarmRunWorkflow>(WORKFLOW_TYPE, {
          workflowId: `${workflowInfo().workflowId}/${step}`,
          args: [{ runId: input.runId, runSwarm, swarm: target.swarm, input: taskWithWork(input.input, transcript), stepPrefix: `${step}.` }],
        });
        if (child.status !== "completed") throw new Error(`nested swarm ${target.swarm.spec.name}: ${child.error ?? child.status}`);
        return child.output ?? "";
      });
    }

    async function reviewFinalAnswer(critics: string[], answer: string, step: string): Promise<Review[]> {
      const settled = await Promise.allSettled(
        critics.map((critic) => {
          const agentSpec = modelAgent(spec, critic);
          const stepRef = ref(critic, `${step}.review-${critic}`);
          return tracked(critic, stepRef, () => modelActivities(agentSpec).review({ ...stepRef, agentSwarm: spec.name, spec: agentSpec, task: input.input, answer }));
        }),
      );
      const cancelled = settled.find((s) => s.status === "rejected" && isCancellation(s.reason));
      if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
      // A critic that failed is recorded as a failed step; the answer stands without its review.
      return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    }

    /**
     * A fan-out (v3): every named worker runs at once, each under its own step path
     * (`<step>.<worker>`), and each sees the transcript as it was when the supervisor decided.
     * Their activities are scheduled in the order the supervisor named them, so the commands are
     * the same on every replay; the turns go into the transcript in that order too, whichever
     * finished first. A branch that fails for good is a failed turn, as a lone worker's is.
     */
    async function fanOut(names: string[], step: string, instruction: string, transcript: TurnRecord[]): Promise<TurnRecord[]> {
      const settled = await Promise.allSettled(names.map(async (name) => runTarget(resolveTarget(input.swarm, name), `${step}.${name}`, instruction, transcript)));
      const cancelled = settled.find((s) => s.status === "rejected" && isCancellation(s.reason));
      if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
      return settled.map((s, i) => ({
        step: `${step}.${names[i]!}`,
        node: names[i]!,
        instruction,
        status: s.status === "fulfilled" ? "completed" : "failed",
        output: s.status === "fulfilled" ? s.value : failureMessage(s.reason),
      }));
    }

    async function drive(): Promise<SwarmRunResult> {
      const transcript: TurnRecord[] = [];
      const supervisorName = spec.topology.supervisor;
      const supervisorSpec = modelAgent(spec, supervisorName);
      for (let turn = 1; turn <= spec.topology.max_turns; turn++) {
        progress.turn = turn;
        const step = nextStep();
        const stepRef = ref(supervisorName, step);
        let decision;
        try {
          decision = await tracked(supervisorName, stepRef, () =>
            modelActivities(supervisorSpec).supervise({
              ...stepRef,
              agentSwarm: spec.name,
              spec: supervisorSpec,
              task: input.input,
              workers: routingChoices(spec),
              transcript: [...transcript],
              turn,
              ...(width > 1 ? { maxParallel: width } : {}),
            }),
          );
        } catch (err) {
          if (isCancellation(err)) throw err;
          throw new SupervisorFailed(`the supervisor ${supervisorName} failed: ${failureMessage(err)}`);
        }
        node(supervisorName).status = "pending";
        if ("finish" in decision) {
          const critics = version >= 2 ? criticsOf(spec) : [];
          log.info("supervisor finished", { runId: input.runId, step, version, critics });
          const reviews = critics.length > 0 ? await reviewFinalAnswer(critics, decision.finish, step) : undefined;
          return { status: "completed", output: decision.finish, turns: turn, ...(reviews ? { reviews } : {}) };
        }
        const workerStep = nextStep();
        if ("parallel" in decision) {
          transcript.push(...(await fanOut(decision.parallel, workerStep, decision.instruction, [...transcript])));
          continue;
        }
        let output: string;
        let status: TurnRecord["status"] = "completed";
        try {
          output = await runTarget(resolveTarget(input.swarm, decision.next), workerStep, decision.instruction, [...transcript]);
        } catch (err) {
          if (isCancellation(err)) throw err;
          // The step failed for good: the supervisor reads the error and decides what to do.
          status = "failed";
          output = failureMessage(err);
        }
        transcript.push({ step: workerStep, node: decision.next, instruction: decision.instruction, status, output });
      }
      return { status: "failed", error: maxTurnsError(spec.topology.max_turns), turns: spec.topology.max_turns };
    }

    if (top) {
      const row = await books.runUpdate({ runId: input.runId, swarm: runSwarm, status: "running" });
      if (row?.status === "completed" || row?.status === "failed" || row?.status === "cancelled") {
        // Finished before its workflow started (cancelled while queued): nothing to run.
        progress.status = row.status;
        return { status: row.status, error: `the run was already ${row.status} when its workflow started`, turns: 0 };
      }
    }
    let result: SwarmRunResult;
    let workflowCancellation: unknown;
    try {
      result = await loop.run(drive);
    } catch (err) {
      if (isCancellation(err)) {
        if (cancelReason === undefined) workflowCancellation = err;
        result = { status: "cancelled", error: cancelReason ?? "the workflow was cancelled", turns: progress.turn };
      } else {
        result = { status: "failed", error: failureMessage(err), turns: progress.turn };
      }
    }
    progress.status = result.status;
    if (result.output !== undefined) progress.output = result.output;
    if (result.error !== undefined) progress.error = result.error;
    if (result.reviews) progress.reviews = result.reviews;
    for (const n of progress.nodes) if (n.status === "running") n.status = "cancelled";
    if (top) {
      const { status, output, error } = result;
      await CancellationScope.nonCancellable(() =>
        books.runUpdate({ runId: input.runId, swarm: runSwarm, status, ...(output !== undefined ? { output } : {}), ...(error !== undefined ? { error } : {}) }),
      );
    }
    // Cancelled through Temporal: end as cancelled there too, after the run row says so.
    if (workflowCancellation) throw workflowCancellation;
    return result;
  };
}
