/** Resolves `env:NAME` references against an environment (process.env on Node, bindings on a Worker). */
export type Env = Record<string, string | undefined>;

export class MissingSecretError extends Error {
  constructor(
    readonly field: string,
    readonly variable: string,
  ) {
    super(`${field} refers to env:${variable}, but ${variable} is not set`);
    this.name = "MissingSecretError";
  }
}

export function resolveRef(value: string, env: Env, field: string): string {
  if (!value.startsWith("env:")) return value;
  const name = value.slice(4);
  const resolved = env[name];
  if (resolved === undefined || resolved === "") throw new MissingSecretError(field, name);
  return resolved;
}

/** Like resolveRef, but an unset variable yields undefined so the caller can fail later, at use. */
export function resolveOptionalRef(value: string | undefined, env: Env): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith("env:")) return value;
  const resolved = env[value.slice(4)];
  return resolved === "" ? undefined : resolved;
}
