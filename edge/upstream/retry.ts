import pRetry, { AbortError } from "p-retry";
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
  // p-retry counts attempts, stops on AbortError and on the signal; the delay is computed here
  // instead of by its `retry` schedule (fixed up front) so Retry-After can stretch it and
  // onRetry can report it. Its own waits are therefore zero.
  return pRetry(
    async (n) => {
      try {
        signal?.throwIfAborted();
        return await attempt(n);
      } catch (error) {
        if (signal?.aborted) throw new AbortError(asError(signal.reason));
        if (!options.isRetryable(error)) throw new AbortError(asError(error));
        const asked = options.retryAfterMs?.(error);
        if (asked !== undefined && asked > options.maxTimeoutMs) throw new AbortError(asError(error));
        throw error;
      }
    },
    {
      retries: options.retries,
      factor: 2,
      minTimeout: 0,
      maxTimeout: 0,
      randomize: false,
      ...(signal ? { signal } : {}),
      onFailedAttempt: async (error) => {
        // Out of retries: reject with this error, not p-retry's "most frequent" one.
        if (error.retriesLeft <= 0) throw error;
        const cap = Math.min(options.maxTimeoutMs, options.minTimeoutMs * 2 ** (error.attemptNumber - 1));
        const backoff = Math.round(random() * cap);
        const delayMs = Math.max(backoff, options.retryAfterMs?.(error) ?? 0);
        options.onRetry?.(error, error.attemptNumber, delayMs);
        await sleep(delayMs, signal);
      },
    },
  );
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
