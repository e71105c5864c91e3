import { UpstreamAttemptError } from "./send.ts";
import { sleep } from "../../shared/sleep.ts";

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  signal?: AbortSignal;
  isRetryable: (error: unknown) => boolean;
  /** The wait the upstream asked for (Retry-After), if any. */
  retryAfterMs?: (error: unknown) => number | undefined;
  onRetry?: (error: unknown, attemptNumber: number, delayMs: number) => void;
  /** For tests; Math.random otherwise. */
  random?: () => number;
}

/**
 * Two quick retries, then the next model: a caller waits at most a few seconds on one model
 * before the fallback chain moves on.
 */
export const gatewayRetryDefaults = { retries: 2, minTimeoutMs: 100, maxTimeoutMs: 2_000 } as const;

/**
 * Runs `attempt` (given its 1-based number) until it succeeds, an error is not retryable, the
 * retries run out or `signal` aborts; rejects with the last attempt's error (or the signal's
 * reason). Delays grow by a factor of 2 from minTimeoutMs, capped at maxTimeoutMs, with full
 * jitter (uniform between 0 and that) so that gateways that saw the same outage do not retry in
 * step. A Retry-After is honoured as a lower bound when it fits within maxTimeoutMs; a longer one
 * ends the retries at once, so the caller can fall back rather than hold the request.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  const { signal } = options;
  // A plain loop rather than p-retry: this runs once per proxied request, and nearly always its
  // first attempt succeeds, where p-retry's operation objects, timers and promise wrapping were a
  // measurable share of the gateway's per-request CPU (docs/benchmarks.md, "Gateway overhead").
  for (let n = 1; ; n++) {
    if (signal?.aborted) throw asError(signal.reason);
    try {
      return await (signal ? untilAborted(attempt(n), signal) : attempt(n));
    } catch (error) {
      if (signal?.aborted) throw asError(signal.reason);
      if (!options.isRetryable(error)) throw asError(error);
      const asked = options.retryAfterMs?.(error);
      // Out of retries, or asked to wait longer than we would: this error is the answer.
      if (n > options.retries || (asked !== undefined && asked > options.maxTimeoutMs)) throw asError(error);
      const cap = Math.min(options.maxTimeoutMs, options.minTimeoutMs * 2 ** (n - 1));
      const delayMs = Math.max(Math.round(random() * cap), asked ?? 0);
      options.onRetry?.(error, n, delayMs);
      await sleep(delayMs, signal);
    }
  }
}

/** Settles as `work` does, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(asError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => (signal.removeEventListener("abort", onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener("abort", onAbort), reject(error)),
    );
  });
}

/** 5xx, timeouts and provider 429: worth another try on the same model. Bad credentials are not. */
export function isTransientUpstreamError(error: unknown): boolean {
  if (!(error instanceof UpstreamAttemptError) || !error.retryable) return false;
  if (error.error.code === "upstream_auth_failed") return false;
  return error.error.status === 429 || error.error.status >= 500;
}

/** Retry-After from a provider 429 (seconds or an HTTP date), in milliseconds. */
export function upstreamRetryAfterMs(error: unknown, now: number = Date.now()): number | undefined {
  if (!(error instanceof UpstreamAttemptError)) return undefined;
  const value = error.error.headers["retry-after"]?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
