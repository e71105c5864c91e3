import type { ResolvedModel } from "./routing/resolve.ts";

/** What happened to a call, told to the client: who answered, the cache outcome, and the cost when known. */
export function responseHeaders(model: ResolvedModel, cache: "hit" | "miss" | "bypass" = "bypass", cost?: number): Record<string, string> {
  const headers: Record<string, string> = { "x-godotz-model": model.name, "x-godotz-cache": cache };
  if (cost !== undefined) headers["x-godotz-cost-usd"] = formatUsd(cost);
  return headers;
}

/** Plain decimal (never exponent notation), at most 10 places, as the audit stores it. */
export function formatUsd(cost: number): string {
  return cost.toFixed(10).replace(/0+$/, "").replace(/\.$/, ".0");
}
