import type { VirtualKey } from "../auth/keys.ts";
import { keyAllowsModel } from "../auth/middleware.ts";
import { forbidden, GatewayError, invalidRequest } from "../errors.ts";
import type { ModelGroup, ModelTable, ResolvedModel } from "./resolve.ts";

export interface GroupRequest {
  key: VirtualKey;
  /** The request carries images, so only models with vision may answer it. */
  images: boolean;
  visionFallback: string;
  hardcore: boolean;
}

/**
 * The models a request naming a role or a family may go to: the family's chat models the key may
 * use, in configuration order, for the health order to rank like a fallback chain. They never
 * leave the family (not even to the members' configured fallbacks): an agent names a family to
 * get that family, e.g. a critic kept off its supervisor's. With images, only the family's vision
 * models; with none, the vision fallback as for a model (hardcore refuses instead).
 */
export function groupCandidates(table: ModelTable, name: string, group: ModelGroup, req: GroupRequest): ResolvedModel[] {
  const label = group.role ? `role "${name}" (family ${group.family})` : `family "${name}"`;
  if (group.chat.length === 0) {
    throw new GatewayError(400, "invalid_request_error", "model_not_chat", `"${name}" is a family of embedding models; use /v1/embeddings with one of them (${group.embedding.join(", ")})`, "model");
  }
  const usable: ResolvedModel[] = [];
  let unusable: (() => never) | undefined;
  for (const model of group.chat) {
    const entry = table.get(model)!;
    if (typeof entry === "function") unusable ??= entry;
    else usable.push(entry);
  }
  // Every model of the family lacks its provider's key: the first one's error names the variable.
  if (usable.length === 0) unusable!();
  const allowed = usable.filter((m) => keyAllowsModel(req.key, m));
  if (allowed.length === 0) throw forbidden(`The key "${req.key.name}" may not use any model of ${label} (${usable.map((m) => m.name).join(", ")})`);
  if (!req.images) return allowed;
  const seeing = allowed.filter((m) => m.config.vision);
  if (seeing.length > 0) return seeing;
  if (req.hardcore) {
    throw invalidRequest(`No model of ${label} the key may use can read images, and hardcore mode does not reroute to ${req.visionFallback}`, "messages", "model_lacks_vision");
  }
  const vision = table.get(req.visionFallback);
  if (!vision || typeof vision === "function" || !vision.config.vision) {
    throw invalidRequest(`No model of ${label} can read images and the vision fallback "${req.visionFallback}" is not a configured vision model`, "messages", "model_lacks_vision");
  }
  if (!keyAllowsModel(req.key, vision)) throw forbidden(`No model of ${label} the key may use can read images, and the key "${req.key.name}" may not use the vision fallback "${vision.name}"`);
  return [vision];
}

/** A chat request's `model` that is neither a model, a role nor a family. */
export function unknownChatModel(name: string): GatewayError {
  return new GatewayError(404, "invalid_request_error", "model_not_found", `The model "${name}" does not exist or is not configured in this gateway, nor is it a role or model family (GET /v1/models lists them)`, "model");
}
