import type { GatewayDeps } from "../deps.ts";
import { GatewayError } from "../errors.ts";

/**
 * A governance store (budget ledger, rate limiter, cache, health) could not be reached. The
 * default is permissive: serve without that check and say so in the log. Hardcore mode refuses
 * to serve instead (503), so nothing runs unchecked.
 */
export function storeUnavailable(deps: GatewayDeps, what: string, error: unknown): void {
  const detail = error instanceof Error ? error.message : String(error);
  if (deps.config.hardcore) {
    throw new GatewayError(503, "api_error", "governance_unavailable", `The ${what} cannot be reached and hardcore mode does not serve without it: ${detail}`);
  }
  deps.log(`godotz: ${what} unavailable, serving without it: ${detail}`);
}
