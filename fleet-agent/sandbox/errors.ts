/** The sandbox cannot be set up on this node: the task is refused (fail-closed), never run bare. */
export class SandboxUnavailableError extends Error {
  override name = "SandboxUnavailableError";
}

/** A run was asked for with options the sandbox will not accept; nothing ran. */
export class SandboxOptionsError extends Error {
  override name = "SandboxOptionsError";
}
