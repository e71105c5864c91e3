import type { ModelHealth } from "./state.ts";

export interface OrderInput {
  model: string;
  health: ModelHealth;
  /** Closed, or half-open with this caller holding the probe lease. */
  admitted: boolean;
}

/**
 * The fallback chain in the order to try it.
 *
 * The configured order is a choice of model quality, so it holds unless health clearly says
 * otherwise: a model is passed over only while another admitted model's successEma beats it by
 * more than `margin` (one failure from perfect does not demote; two in quick succession do).
 * Among the clearly healthier, the configured order again decides. A half-open model on probe
 * keeps its configured place, so a recovered primary takes its traffic back on the first try.
 *
 * Latency is deliberately not a reordering signal: an LLM call's latency mostly measures the
 * answer's length and the model's size, which the configuration chose; a model slow enough to
 * be unhealthy hits the provider timeout, which counts as a failure.
 *
 * Models not admitted are left out, unless none is admitted: then the one whose cooldown ends
 * first is returned alone, as a probe, rather than failing without trying anything.
 */
export function orderByHealth(inputs: OrderInput[], margin: number, openMs: number): string[] {
  const admitted = inputs.filter((i) => i.admitted);
  if (admitted.length === 0) {
    const cooldownEnd = (i: OrderInput) => (i.health.openedAt ?? 0) + openMs;
    const first = inputs.reduce<OrderInput | undefined>((best, i) => (best === undefined || cooldownEnd(i) < cooldownEnd(best) ? i : best), undefined);
    return first ? [first.model] : [];
  }
  const score = (i: OrderInput) => (i.health.circuit === "half_open" ? 1 : i.health.successEma);
  const remaining = [...admitted];
  const ordered: string[] = [];
  while (remaining.length > 0) {
    const best = Math.max(...remaining.map(score));
    const index = remaining.findIndex((i) => best - score(i) <= margin);
    ordered.push(remaining.splice(index, 1)[0]!.model);
  }
  return ordered;
}
