/**
 * The health arithmetic for one model, as pure functions. The in-memory store runs these
 * directly; the Redis store runs the same rules in Lua (redis-store.ts) so that an update is one
 * atomic round trip. The shared test suite runs against both, which is what keeps them in step.
 */

export interface HealthSample {
  ok: boolean;
  latencyMs: number;
}

export type Circuit = "closed" | "open" | "half_open";

/** What callers see: the values the routing decisions are made from. */
export interface ModelHealth {
  /** Success rate as an exponential moving average, 0..1, aged toward 1 while no samples arrive. */
  successEma: number;
  /** Moving average of successful calls' latency; 0 until the first success. */
  latencyEmaMs: number;
  samples: number;
  circuit: Circuit;
  openedAt?: number;
  consecutiveFailures: number;
}

export interface HealthParams {
  alpha: number;
  failureThreshold: number;
  openMs: number;
  /** A closed circuit also opens when successEma drops below this with at least `minSamples`. */
  openBelow: number;
  minSamples: number;
  /** Time for a model's distance from a perfect successEma to halve when nobody calls it. */
  recoveryHalfLifeMs: number;
  /** How long one caller's half-open probe keeps others off the model. */
  probeLeaseMs: number;
}

/** The stored form: raw EMA plus when it was last updated, so ageing can be applied on read. */
export interface StoredHealth {
  ema: number;
  emaAt: number;
  latencyMs?: number;
  samples: number;
  consecutiveFailures: number;
  open: boolean;
  openedAt: number;
  probeAt?: number;
}

export const freshHealth = (now: number): StoredHealth => ({ ema: 1, emaAt: now, samples: 0, consecutiveFailures: 0, open: false, openedAt: 0 });

/**
 * A model that gets no traffic keeps the EMA of its last bad minutes forever, and a demoted
 * model gets no traffic. Ageing the evidence toward "healthy" lets it be tried again.
 */
export function agedEma(state: StoredHealth, now: number, params: HealthParams): number {
  const age = Math.max(0, now - state.emaAt);
  return 1 - (1 - state.ema) * 0.5 ** (age / params.recoveryHalfLifeMs);
}

export function circuitOf(state: StoredHealth, now: number, params: HealthParams): Circuit {
  if (!state.open) return "closed";
  return now >= state.openedAt + params.openMs ? "half_open" : "open";
}

export function applySample(state: StoredHealth, sample: HealthSample, now: number, params: HealthParams): StoredHealth {
  const { alpha } = params;
  const circuit = circuitOf(state, now, params);
  const next: StoredHealth = {
    ...state,
    ema: alpha * (sample.ok ? 1 : 0) + (1 - alpha) * agedEma(state, now, params),
    emaAt: now,
    samples: state.samples + 1,
    consecutiveFailures: sample.ok ? 0 : state.consecutiveFailures + 1,
  };
  // Failures say little about speed (a refused connection is fast, a timeout is the limit).
  if (sample.ok) next.latencyMs = state.latencyMs === undefined ? sample.latencyMs : alpha * sample.latencyMs + (1 - alpha) * state.latencyMs;
  if (circuit === "half_open") {
    delete next.probeAt;
    if (sample.ok) {
      // A good probe wipes the slate: with the old low EMA the recovered model would stay demoted
      // below its fallbacks, get no traffic and never earn its place back.
      return { ...next, open: false, openedAt: 0, ema: 1 };
    }
    return { ...next, openedAt: now };
  }
  // While open, late answers from calls started earlier update the averages but not the circuit.
  if (circuit === "closed" && !sample.ok) {
    const tooManyInARow = next.consecutiveFailures >= params.failureThreshold;
    const mostlyFailing = next.samples >= params.minSamples && next.ema < params.openBelow;
    if (tooManyInARow || mostlyFailing) return { ...next, open: true, openedAt: now };
  }
  return next;
}

/**
 * Whether this caller may send traffic to the model now. A half-open model admits one probe at a
 * time (a lease, in case the prober dies): if the model still hangs, one request waits out the
 * timeout instead of every request that arrives meanwhile.
 */
export function admit(state: StoredHealth, now: number, params: HealthParams): { admitted: boolean; claimed?: StoredHealth } {
  const circuit = circuitOf(state, now, params);
  if (circuit === "closed") return { admitted: true };
  if (circuit === "open") return { admitted: false };
  if (state.probeAt !== undefined && now < state.probeAt + params.probeLeaseMs) return { admitted: false };
  return { admitted: true, claimed: { ...state, probeAt: now } };
}

export function toModelHealth(state: StoredHealth, now: number, params: HealthParams): ModelHealth {
  const circuit = circuitOf(state, now, params);
  return {
    successEma: agedEma(state, now, params),
    latencyEmaMs: state.latencyMs ?? 0,
    samples: state.samples,
    circuit,
    ...(state.open ? { openedAt: state.openedAt } : {}),
    consecutiveFailures: state.consecutiveFailures,
  };
}
