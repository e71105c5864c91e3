import type { SharedRedis } from "../store/redis.ts";
import { orderByHealth } from "./order.ts";
import { RedisHealthStore } from "./redis-store.ts";
import { toModelHealth, type HealthParams, type HealthSample, type ModelHealth } from "./state.ts";
import { MemoryHealthStore, type HealthStore } from "./store.ts";

export type { HealthSample, ModelHealth } from "./state.ts";

/**
 * Per-model health (FR-L2-006), shared by every gateway process through Redis, deciding in which
 * order a fallback chain is tried. Record every upstream attempt that says something about the
 * model (success, 5xx, timeout, provider 429, unreachable), not client disconnects or requests
 * the provider rejected as malformed.
 */
export interface HealthBook {
  record(model: string, sample: HealthSample): Promise<void>;
  snapshot(models: string[]): Promise<Map<string, ModelHealth>>;
  /**
   * Candidates to try, in order: primary first while healthy; otherwise by health; models with
   * an open circuit left out (but if all are open, the one whose cooldown ends first is tried as
   * a probe). Takes the probe lease of half-open models it returns. See order.ts.
   */
  order(candidates: string[]): Promise<string[]>;
}

/** The store could not be reached or failed; callers fail open, trying the configured order. */
export class HealthStoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`model health store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "HealthStoreUnavailableError";
  }
}

export interface HealthBookOptions {
  /** Weight of the newest sample in the moving averages. */
  alpha?: number;
  /** Consecutive failures that open a closed circuit. */
  failureThreshold?: number;
  /** How long an open circuit keeps traffic away before admitting a probe. */
  openMs?: number;
  /** A closed circuit also opens when successEma falls below this, given `minSamples`. */
  openBelow?: number;
  minSamples?: number;
  /** How much better another model's successEma must be to take a model's place. */
  demoteMargin?: number;
  recoveryHalfLifeMs?: number;
  probeLeaseMs?: number;
  prefix?: string;
  /** Redis keys of models nobody calls any more expire after this. */
  ttlMs?: number;
  /** A store that does not answer within this counts as unavailable rather than holding the request. */
  timeoutMs?: number;
  now?: () => number;
}

/*
 * alpha 0.2 makes one failure from perfect 0.8 (not demoted at margin 0.2), two 0.64 (demoted);
 * from perfect, five failures in a row open the circuit before the EMA rule can (0.33 > 0.3),
 * which catches instead a model failing about three calls in four over a longer stretch.
 */
const defaults = {
  alpha: 0.2,
  failureThreshold: 5,
  openMs: 30_000,
  openBelow: 0.3,
  minSamples: 10,
  demoteMargin: 0.2,
  recoveryHalfLifeMs: 60_000,
  prefix: "godotz:health",
  ttlMs: 7 * 24 * 3600_000,
  timeoutMs: 500,
};

export function createHealthBook(redis: SharedRedis | undefined, options: HealthBookOptions = {}): HealthBook {
  const o = { ...defaults, ...withoutUndefined(options) };
  const params: HealthParams = {
    alpha: o.alpha,
    failureThreshold: o.failureThreshold,
    openMs: o.openMs,
    openBelow: o.openBelow,
    minSamples: o.minSamples,
    recoveryHalfLifeMs: o.recoveryHalfLifeMs,
    probeLeaseMs: o.probeLeaseMs ?? o.openMs,
  };
  const now = o.now ?? Date.now;
  const store: HealthStore = redis ? new RedisHealthStore(redis, params, o.prefix, o.ttlMs) : new MemoryHealthStore(params);
  const guarded = async <T>(operation: () => Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    });
    try {
      // The command itself is left to finish or fail on its own.
      return await Promise.race([operation(), timeout]);
    } catch (error) {
      throw new HealthStoreUnavailableError(error);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    record: (model, sample) => guarded(() => store.record(model, sample, now())),

    async snapshot(models) {
      const unique = [...new Set(models)];
      const at = now();
      const rows = await guarded(() => store.read(unique, at, false));
      return new Map(unique.map((model, i) => [model, toModelHealth(rows[i]!.state, at, params)]));
    },

    async order(candidates) {
      const unique = [...new Set(candidates)];
      const at = now();
      const rows = await guarded(() => store.read(unique, at, true));
      const inputs = unique.map((model, i) => ({ model, health: toModelHealth(rows[i]!.state, at, params), admitted: rows[i]!.admitted }));
      return orderByHealth(inputs, o.demoteMargin, params.openMs);
    },
  };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
