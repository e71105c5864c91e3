import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { keyAllowsModel } from "../auth/middleware.ts";

/** The configured models this key may use, in OpenAI's list shape. */
export function handleModels(c: Context<GatewayEnv>, deps: GatewayDeps): Response {
  const key = c.get("key");
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
      };
    });
  return c.json({ object: "list", data });
}
