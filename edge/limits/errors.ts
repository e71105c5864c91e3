/**
 * Errors of the limits capability. The gateway maps them once, at its boundary: a refused
 * concurrency slot becomes 429 `rate_limited` with Retry-After; an unreachable store fails open
 * normally and becomes 503 in hardcore mode, which is why it is a type of its own.
 */

export class LimiterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LimiterUnavailableError";
  }
}

export class ConcurrencyRefusedError extends Error {
  constructor(
    readonly model: string,
    readonly cap: number,
    readonly waitedMs: number,
    readonly reason: "queue_full" | "timeout",
  ) {
    super(
      reason === "queue_full"
        ? `Model "${model}" is at its concurrency limit of ${cap} and its queue is full`
        : `Model "${model}" stayed at its concurrency limit of ${cap} for ${waitedMs} ms`,
    );
    this.name = "ConcurrencyRefusedError";
  }
}

/**
 * Wraps a store call so every failure (network, HTTP, script) surfaces as one typed error, and a
 * store that hangs counts as down: the REST client has no deadline of its own, and a request
 * must not wait on governance longer than it would on a refusal.
 */
export async function storeCall<T>(what: string, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (error) {
    throw new LimiterUnavailableError(`Limits store unavailable (${what}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
