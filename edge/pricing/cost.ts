import type { ModelConfig } from "../../shared/config/schema.ts";

/** USD for a call; config prices are USD per million tokens. Rounded to 1e-10 to match the audit column. */
export function costUsd(price: ModelConfig["price"], promptTokens: number, completionTokens: number): number {
  const raw = (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
  return Math.round(raw * 1e10) / 1e10;
}
