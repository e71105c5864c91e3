import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { keyAllowsModel } from "../auth/middleware.ts";

/**
 * The configured models this key may use, in OpenAI's list shape. Roles and families are not
 * entries of their own (clients would take them for models); each model carries its `family`
 * and the `roles` of routing.roles that route to it, any of which a chat request may name.
 */
export function handleModels(c: Context<GatewayEnv>, deps: GatewayDeps): Response {
  const key = c.get("key");
  const rolesOf = new Map<string, string[]>();
  for (const [role, family] of Object.entries(deps.config.routing.roles)) {
    rolesOf.set(family, [...(rolesOf.get(family) ?? []), role]);
  }
  const data = [...deps.models.values()]
    .filter((m) => typeof m !== "function" && keyAllowsModel(key, m))
    .map((m) => {
      const model = m as Exclude<typeof m, () => never>;
      return {
        id: model.name,
        object: "model" as const,
        created: 0,
        owned_by: model.providerName,
        family: model.config.family,
        type: model.config.type,
        vision: model.config.vision,
        roles: model.config.type === "chat" ? (rolesOf.get(model.config.family) ?? []) : [],
      };
    });
  return c.json({ object: "list", data });
}
