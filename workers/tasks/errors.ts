/** Base of every task-DAG failure a caller can act on; the CLI maps these to exit 1, once, in cli/bd/main.ts. */
export class TaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class TaskNotFoundError extends TaskError {
  constructor(readonly id: string) {
    super(`no task ${id}`);
  }
}

export class DependencyCycleError extends TaskError {
  constructor(readonly issueId: string, readonly dependsOnId: string) {
    super(`${issueId} → ${dependsOnId} would close a dependency cycle (${dependsOnId} already depends on ${issueId})`);
  }
}

export class DependencyNotFoundError extends TaskError {
  constructor(readonly issueId: string, readonly dependsOnId: string) {
    super(`${issueId} does not depend on ${dependsOnId}`);
  }
}

export class InvalidTransitionError extends TaskError {
  constructor(readonly id: string, readonly from: string, readonly action: string) {
    super(`cannot ${action} ${id}: it is ${from}`);
  }
}

/** complete/fail by a worker that no longer holds the claim (its lease expired and someone else took it). */
export class LeaseLostError extends TaskError {
  constructor(readonly id: string, readonly worker: string) {
    super(`${worker} does not hold the claim on ${id}`);
  }
}

/** Bad input caught at the boundary (zod); the CLI treats it as a usage error. */
export class TaskInputError extends TaskError {}

/** Asked to run a task whose blockers are not all closed yet. */
export class TaskNotReadyError extends TaskError {
  constructor(readonly id: string) {
    super(`${id} is not ready: a blocker is not closed yet`);
  }
}
