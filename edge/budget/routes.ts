import { Hono } from "hono";
import { z } from "zod";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { readBody } from "../request/body.ts";
import { invalidRequest, notFound } from "../errors.ts";

export const budgetBody = z.strictObject({
  scope: z.enum(["key", "family", "tag"]),
  subject: z.string().min(1).max(200),
  period: z.enum(["daily", "monthly", "total"]).default("monthly"),
  cap_usd: z.number().nonnegative().max(1e9),
});

/** /admin/budgets: set, list and remove budgets (mounted under the master-key guard). */
export function budgetRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const routes = new Hono<GatewayEnv>();

  routes.put("/", async (c) => {
    const body = await readBody(c, budgetBody);
    if (body.scope === "family" && !Object.values(deps.config.models).some((m) => m.family === body.subject)) {
      throw invalidRequest(`No configured model has family "${body.subject}"`, "subject");
    }
    if (body.scope === "key" && !(await deps.keys.list()).some((k) => k.id === body.subject)) {
      throw invalidRequest(`No key with id "${body.subject}"`, "subject");
    }
    return c.json(await deps.budgets.set(body), 200);
  });

  routes.get("/", async (c) => c.json({ data: await deps.budgets.list() }));

  routes.delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await deps.budgets.remove(id))) throw notFound(`No budget with id ${id}`);
    return c.json({ id, deleted: true });
  });

  return routes;
}
