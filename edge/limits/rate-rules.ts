import type { RateCheck, RateScope } from "./rate.ts";

/** A limit that applies to this request; weight is what the request costs against it. */
export interface RateRule {
  scope: RateScope;
  id: string;
  limit: number;
  weight: number;
}

/** The applicable limits, in the order refusals are reported. */
export function rateRules(input: RateCheck): RateRule[] {
  // Every request costs at least one token, so a zero estimate cannot slip past a full window.
  const tokens = Number.isFinite(input.tokens) ? Math.max(1, Math.ceil(input.tokens)) : 1;
  const candidates: [RateScope, string, number | null | undefined, number][] = [
    ["key_rpm", input.keyId, input.keyRpm, 1],
    ["key_tpm", input.keyId, input.keyTpm, tokens],
    ["model_rpm", input.model, input.modelRpm, 1],
    ["model_tpm", input.model, input.modelTpm, tokens],
  ];
  return candidates.flatMap(([scope, id, limit, weight]) => (limit != null && limit > 0 ? [{ scope, id, limit, weight }] : []));
}

export const retryAfterSeconds = (resetAt: number, now: number) => Math.max(1, Math.ceil((resetAt - now) / 1000));
