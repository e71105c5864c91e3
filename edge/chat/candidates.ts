import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import type { ChatCompletionRequest } from "./schema.ts";
import { lookupModel, type ResolvedModel } from "../routing/resolve.ts";
import { assertKeyAllowsModel, keyAllowsModel } from "../auth/middleware.ts";
import { invalidRequest } from "../errors.ts";
import { hasImages } from "../routing/vision.ts";
import { groupCandidates, unknownChatModel } from "../routing/family.ts";

/**
 * The models to try, in order: the one asked for, then its configured fallbacks the key may use.
 * A request with images never goes to a model without vision: it is routed to the vision
 * fallback (FR-L2-007), images intact; hardcore mode refuses instead of rerouting.
 * `model` may also name a role or a family (model > role > family): then the family's models,
 * which the health order ranks (see groupCandidates).
 */
export function candidateModels(deps: GatewayDeps, c: Context<GatewayEnv>, req: ChatCompletionRequest): ResolvedModel[] {
  const key = c.get("key");
  if (!deps.models.has(req.model)) {
    const group = deps.models.groups.get(req.model);
    if (!group) throw unknownChatModel(req.model);
    return groupCandidates(deps.models, req.model, group, { key, images: hasImages(req), visionFallback: deps.config.routing.vision_fallback, hardcore: deps.config.hardcore });
  }
  const primary = lookupModel(deps.models, req.model);
  assertKeyAllowsModel(key, primary);
  const hardcore = deps.config.hardcore;
  const fallbacks = (hardcore ? [] : deps.config.routing.fallbacks[req.model] ?? []).flatMap((name) => tryLookup(deps, name) ?? []);
  let chain = [primary, ...fallbacks];
  if (hasImages(req) && !primary.config.vision) {
    const visionName = deps.config.routing.vision_fallback;
    if (hardcore) {
      throw invalidRequest(`Model "${primary.name}" cannot read images and hardcore mode does not reroute to ${visionName}`, "messages", "model_lacks_vision");
    }
    const vision = tryLookup(deps, visionName);
    if (!vision || !vision.config.vision) {
      throw invalidRequest(`Model "${primary.name}" cannot read images and the vision fallback "${visionName}" is not a configured vision model`, "messages", "model_lacks_vision");
    }
    chain = [vision, ...fallbacks.filter((m) => m.config.vision && m.name !== vision.name)];
  }
  const allowed = chain.filter((m) => keyAllowsModel(key, m));
  if (allowed.length === 0) assertKeyAllowsModel(key, chain[0]!);
  return allowed;
}

function tryLookup(deps: GatewayDeps, name: string): ResolvedModel | undefined {
  try {
    return lookupModel(deps.models, name);
  } catch {
    return undefined;
  }
}
