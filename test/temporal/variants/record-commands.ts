import { proxySinks, workflowInfo, type Sinks, type WorkflowInterceptorsFactory } from "@temporalio/workflow";

/**
 * A workflow interceptor for the replay tests: reports every activity the workflow schedules,
 * whether that happened while replaying recorded events, and the patches the run has recorded
 * so far. Replay workers drop ordinary sinks and logs, so this sink is `callDuringReplay`.
 * `sentPatches` is the SDK's internal record of `patched()` calls that returned true; it is read
 * here only, to see which version a run that is not replaying chose.
 */

export interface ScheduledCommand {
  activityType: string;
  replaying: boolean;
  patches: string[];
}

export interface CommandSinks extends Sinks {
  commands: { scheduled(command: ScheduledCommand): void };
}

const { commands } = proxySinks<CommandSinks>();

function recordedPatches(): string[] {
  const activator = (globalThis as { __TEMPORAL_ACTIVATOR__?: { sentPatches?: Set<string> } }).__TEMPORAL_ACTIVATOR__;
  return [...(activator?.sentPatches ?? [])];
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        commands.scheduled({ activityType: input.activityType, replaying: workflowInfo().unsafe.isReplaying, patches: recordedPatches() });
        return next(input);
      },
    },
  ],
});
