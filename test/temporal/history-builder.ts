import proto from "@temporalio/proto";
import { defaultFailureConverter, defaultPayloadConverter, type ApplicationFailure } from "@temporalio/common";
import { historyToJson } from "./history-json.ts";

/**
 * Writes workflow histories in Temporal's own format (temporal.api.history.v1.History, serialised
 * as `temporal workflow show --output json` prints it), event by event, the way a Temporal server
 * records them for the commands a worker sends. No server runs on the test machines, so the
 * replay fixtures are scripted with this instead of recorded; replaying them with the real worker
 * (Worker.runReplayHistory) is what checks they match the workflow's commands.
 *
 * Conventions of the real recorder that replay depends on:
 * - activity ids are the worker's sequence numbers ("1", "2", …) in scheduling order;
 * - the first completed workflow task carries the SDK metadata a 1.24 worker writes (all core
 *   flags, the TypeScript SDK's lang flags 1 and 2), which switches on core's id/type checks;
 * - a `patched()` call records a `core_patch` marker and, with core flag 2, an upsert of the
 *   TemporalChangeVersion search attribute;
 * - event times advance one second per event from a fixed start, so fixtures are reproducible.
 */

const { temporal } = proto;
const E = temporal.api.enums.v1.EventType;
type Event = proto.temporal.api.history.v1.IHistoryEvent;
type Duration = { seconds: number };

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const IDENTITY = "1234@godotz-worker";
const CORE_FLAGS = [1, 2, 3];
const LANG_FLAGS = [1, 2];

const payloads = (...values: unknown[]) => ({ payloads: values.map((v) => defaultPayloadConverter.toPayload(v)) });

export interface ActivityOptions {
  startToCloseTimeout: Duration;
  heartbeatTimeout?: Duration;
  retry: { initialInterval: Duration; backoffCoefficient: number; maximumInterval: Duration; maximumAttempts: number; nonRetryableErrorTypes: string[] };
}

export interface ScheduledActivity {
  scheduledEventId: number;
  activityId: string;
  type: string;
  startedEventId?: number;
  cancelRequestedEventId?: number;
}

export interface InitiatedChild {
  initiatedEventId: number;
  workflowId: string;
  runId: string;
  startedEventId?: number;
}

export class HistoryBuilder {
  readonly events: Event[] = [];
  private lastCompletedId = 0;
  private scheduledWftId = 0;
  private activitySeq = 0;
  private wfts = 0;

  constructor(
    readonly workflowId: string,
    readonly runId: string,
    private readonly opts: { workflowType: string; taskQueue: string; args: unknown[]; parent?: { workflowId: string; runId: string; initiatedId: number } },
  ) {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, "workflowExecutionStartedEventAttributes", {
      workflowType: { name: opts.workflowType },
      taskQueue: { name: opts.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      input: payloads(...opts.args),
      workflowTaskTimeout: { seconds: 10 },
      originalExecutionRunId: runId,
      firstExecutionRunId: runId,
      identity: opts.parent ? "" : "godotz-cli",
      attempt: 1,
      ...(opts.parent
        ? {
            parentWorkflowNamespace: "default",
            parentWorkflowExecution: { workflowId: opts.parent.workflowId, runId: opts.parent.runId },
            parentInitiatedEventId: opts.parent.initiatedId,
            rootWorkflowExecution: { workflowId: opts.parent.workflowId, runId: opts.parent.runId },
          }
        : {}),
    });
  }

  private add(eventType: proto.temporal.api.enums.v1.EventType, attributesKey: string, attributes: object): number {
    const eventId = this.events.length + 1;
    this.events.push({
      eventId,
      eventTime: { seconds: Math.floor(START / 1000) + eventId, nanos: 0 },
      eventType,
      taskId: 1048576 + eventId,
      [attributesKey]: attributes,
    } as unknown as Event);
    return eventId;
  }

  /** A workflow task the worker completed; commands it sent follow as the next events. */
  workflowTask(): this {
    this.scheduledWftId = this.add(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, "workflowTaskScheduledEventAttributes", {
      taskQueue: { name: this.opts.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      startToCloseTimeout: { seconds: 10 },
      attempt: 1,
    });
    const startedId = this.add(E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "workflowTaskStartedEventAttributes", {
      scheduledEventId: this.scheduledWftId,
      identity: IDENTITY,
      requestId: `request-${this.events.length}`,
      historySizeBytes: this.events.length * 300,
    });
    const first = this.wfts++ === 0;
    this.lastCompletedId = this.add(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, "workflowTaskCompletedEventAttributes", {
      scheduledEventId: this.scheduledWftId,
      startedEventId: startedId,
      identity: IDENTITY,
      ...(first ? { sdkMetadata: { coreUsedFlags: CORE_FLAGS, langUsedFlags: LANG_FLAGS, sdkName: "temporal-typescript", sdkVersion: "1.24.0" } } : {}),
      meteringMetadata: {},
    });
    return this;
  }

  scheduleActivity(type: string, input: unknown, options: ActivityOptions): ScheduledActivity {
    const activityId = String(++this.activitySeq);
    const scheduledEventId = this.add(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "activityTaskScheduledEventAttributes", {
      activityId,
      activityType: { name: type },
      taskQueue: { name: this.opts.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      header: {},
      input: payloads(input),
      scheduleToCloseTimeout: { seconds: 0 },
      scheduleToStartTimeout: { seconds: 0 },
      startToCloseTimeout: options.startToCloseTimeout,
      heartbeatTimeout: options.heartbeatTimeout ?? { seconds: 0 },
      workflowTaskCompletedEventId: this.lastCompletedId,
      retryPolicy: { ...options.retry },
    });
    return { scheduledEventId, activityId, type };
  }

  private started(activity: ScheduledActivity, attempt: number): number {
    activity.startedEventId = this.add(E.EVENT_TYPE_ACTIVITY_TASK_STARTED, "activityTaskStartedEventAttributes", {
      scheduledEventId: activity.scheduledEventId,
      identity: IDENTITY,
      requestId: `request-${this.events.length}`,
      attempt,
    });
    return activity.startedEventId;
  }

  /** The activity's last attempt (`attempt`) returned `result`. */
  completeActivity(activity: ScheduledActivity, result: unknown, attempt = 1): this {
    const startedEventId = this.started(activity, attempt);
    this.add(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, "activityTaskCompletedEventAttributes", {
      result: payloads(result),
      scheduledEventId: activity.scheduledEventId,
      startedEventId,
      identity: IDENTITY,
    });
    return this;
  }

  /** The activity failed for good: a non-retryable ApplicationFailure, as activities.ts throws. */
  failActivity(activity: ScheduledActivity, failure: ApplicationFailure, attempt = 1): this {
    const startedEventId = this.started(activity, attempt);
    this.add(E.EVENT_TYPE_ACTIVITY_TASK_FAILED, "activityTaskFailedEventAttributes", {
      // A stack trace as the worker would send it, without this machine's paths.
      failure: { ...defaultFailureConverter.errorToFailure(failure, defaultPayloadConverter), stackTrace: `ApplicationFailure: ${failure.message}\n    at modelStep (workers/temporal/activities.ts)` },
      scheduledEventId: activity.scheduledEventId,
      startedEventId,
      identity: IDENTITY,
      retryState: failure.nonRetryable
        ? temporal.api.enums.v1.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
        : temporal.api.enums.v1.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED,
    });
    return this;
  }

  /** The workflow asked to cancel the activity (RequestCancelActivityTask). */
  requestCancelActivity(activity: ScheduledActivity): this {
    activity.cancelRequestedEventId = this.add(E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED, "activityTaskCancelRequestedEventAttributes", {
      scheduledEventId: activity.scheduledEventId,
      workflowTaskCompletedEventId: this.lastCompletedId,
    });
    return this;
  }

  /** The activity noticed the cancellation (through its heartbeat) and reported itself cancelled. */
  activityCanceled(activity: ScheduledActivity, attempt = 1): this {
    const startedEventId = this.started(activity, attempt);
    this.add(E.EVENT_TYPE_ACTIVITY_TASK_CANCELED, "activityTaskCanceledEventAttributes", {
      details: payloads(),
      latestCancelRequestedEventId: activity.cancelRequestedEventId,
      scheduledEventId: activity.scheduledEventId,
      startedEventId,
      identity: IDENTITY,
    });
    return this;
  }

  /** `patched(id)` on a new run: the marker, then (core flag 2) the TemporalChangeVersion upsert. */
  patchMarker(patchId: string, allPatchIds: string[] = [patchId]): this {
    this.add(E.EVENT_TYPE_MARKER_RECORDED, "markerRecordedEventAttributes", {
      markerName: "core_patch",
      details: { "patch-data": payloads({ id: patchId, deprecated: false }) },
      workflowTaskCompletedEventId: this.lastCompletedId,
    });
    const value = defaultPayloadConverter.toPayload([...allPatchIds].sort());
    value.metadata = { ...value.metadata, type: new TextEncoder().encode("KeywordList") };
    this.add(E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, "upsertWorkflowSearchAttributesEventAttributes", {
      workflowTaskCompletedEventId: this.lastCompletedId,
      searchAttributes: { indexedFields: { TemporalChangeVersion: value } },
    });
    return this;
  }

  signal(name: string, ...args: unknown[]): this {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, "workflowExecutionSignaledEventAttributes", {
      signalName: name,
      input: payloads(...args),
      identity: "godotz-cli",
      header: {},
    });
    return this;
  }

  startChild(workflowId: string, workflowType: string, input: unknown): InitiatedChild {
    const initiatedEventId = this.add(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, "startChildWorkflowExecutionInitiatedEventAttributes", {
      namespace: "default",
      workflowId,
      workflowType: { name: workflowType },
      taskQueue: { name: this.opts.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      input: payloads(input),
      workflowExecutionTimeout: { seconds: 0 },
      workflowRunTimeout: { seconds: 0 },
      workflowTaskTimeout: { seconds: 10 },
      parentClosePolicy: temporal.api.enums.v1.ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE,
      workflowTaskCompletedEventId: this.lastCompletedId,
      workflowIdReusePolicy: temporal.api.enums.v1.WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
      header: {},
    });
    return { initiatedEventId, workflowId, runId: `${workflowId.replace(/[^a-z0-9]/gi, "")}-run`.slice(-36) };
  }

  childStarted(child: InitiatedChild, workflowType: string): this {
    child.startedEventId = this.add(E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, "childWorkflowExecutionStartedEventAttributes", {
      namespace: "default",
      initiatedEventId: child.initiatedEventId,
      workflowExecution: { workflowId: child.workflowId, runId: child.runId },
      workflowType: { name: workflowType },
      header: {},
    });
    return this;
  }

  childCompleted(child: InitiatedChild, workflowType: string, result: unknown): this {
    this.add(E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED, "childWorkflowExecutionCompletedEventAttributes", {
      result: payloads(result),
      namespace: "default",
      workflowExecution: { workflowId: child.workflowId, runId: child.runId },
      workflowType: { name: workflowType },
      initiatedEventId: child.initiatedEventId,
      startedEventId: child.startedEventId,
    });
    return this;
  }

  complete(result: unknown): this {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, "workflowExecutionCompletedEventAttributes", {
      result: payloads(result),
      workflowTaskCompletedEventId: this.lastCompletedId,
    });
    return this;
  }

  /** The workflow failed (an ApplicationFailure thrown from workflow code). */
  failed(failure: ApplicationFailure): this {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, "workflowExecutionFailedEventAttributes", {
      failure: { ...defaultFailureConverter.errorToFailure(failure, defaultPayloadConverter), stackTrace: `ApplicationFailure: ${failure.message}\n    at swarmRun (workers/temporal/swarm-workflow.ts)` },
      retryState: proto.temporal.api.enums.v1.RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET,
      workflowTaskCompletedEventId: this.lastCompletedId,
    });
    return this;
  }

  /** The workflow rethrew its cancellation after the run row said cancelled. */
  canceled(): this {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, "workflowExecutionCanceledEventAttributes", {
      workflowTaskCompletedEventId: this.lastCompletedId,
      details: payloads(),
    });
    return this;
  }

  cancelRequested(cause: string): this {
    this.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED, "workflowExecutionCancelRequestedEventAttributes", { cause, identity: "godotz-cli" });
    return this;
  }

  toJSON(): string {
    return historyToJson({ events: this.events });
  }
}

