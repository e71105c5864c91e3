import type { MiddlewareHandler } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { GatewayError, forbidden, invalidRequest, unauthorized } from "../errors.ts";
import type { VirtualKey } from "./keys.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import { newRequestId } from "../audit/request-id.ts";

const ATTRIBUTION_MAX = 200;

function bearer(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** Authenticates a virtual key and reads the attribution headers, for every /v1 route. */
export function requireVirtualKey(deps: GatewayDeps): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    c.set("startedAt", performance.now());
    c.set("requestId", newRequestId());
    const token = bearer(c.req.header("authorization"));
    if (!token) throw unauthorized("Missing API key: send `Authorization: Bearer <godotz virtual key>`");
    let key;
    try {
      key = await deps.keys.findActive(token);
    } catch (error) {
      throw new GatewayError(503, "api_error", "key_store_unavailable", `Virtual keys cannot be checked: ${(error as Error).message}`);
    }
    if (!key) throw unauthorized("Invalid or revoked API key");
    if (deps.config.hardcore && !deps.audit.healthy()) {
      throw new GatewayError(503, "api_error", "audit_unavailable", "The audit store is not accepting writes and hardcore mode does not serve unaudited calls");
    }
    c.set("key", key);
    const read = (name: string) => {
      const value = c.req.header(name);
      if (value !== undefined && (value.length === 0 || value.length > ATTRIBUTION_MAX)) {
        throw invalidRequest(`Header ${name} must be 1 to ${ATTRIBUTION_MAX} characters`, name, "invalid_header");
      }
      return value ?? null;
    };
    c.set("attribution", { swarm: read("x-godotz-swarm"), agent: read("x-godotz-agent"), task: read("x-godotz-task") });
    await next();
  };
}

export function keyAllowsModel(key: VirtualKey, model: ResolvedModel): boolean {
  if (key.models && key.models.length > 0 && !key.models.includes(model.name)) return false;
  if (key.families && key.families.length > 0 && !key.families.includes(model.config.family)) return false;
  return true;
}

export function assertKeyAllowsModel(key: VirtualKey, model: ResolvedModel): void {
  if (!keyAllowsModel(key, model)) {
    throw forbidden(`The key "${key.name}" may not use model "${model.name}" (family ${model.config.family})`);
  }
}

/** Constant-time comparison, so the master key cannot be guessed byte by byte from timings. */
export function sameSecret(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

export function requireMasterKey(deps: GatewayDeps): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token || !sameSecret(token, deps.masterKey)) throw unauthorized("The admin API needs the master key: `Authorization: Bearer <master key>`");
    await next();
  };
}
