import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { requireMasterKey } from "../auth/middleware.ts";
import { readBody } from "../request/body.ts";
import { invalidRequest, notFound } from "../errors.ts";
import { spendQuery } from "./spend.ts";
import { budgetRoutes } from "../budget/routes.ts";

export const newKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  models: z.array(z.string().min(1)).optional(),
  families: z.array(z.string().min(1)).optional(),
  tags: z.array(z.string().min(1).max(100)).optional(),
  budget_usd: z.number().positive().max(1e9).optional(),
  budget_period: z.enum(["daily", "monthly", "total"]).optional(),
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
});

/** /admin/*: virtual keys and spend, authorised by the master key. */
export function adminRoutes(deps: GatewayDeps, sizeLimit: MiddlewareHandler): Hono<GatewayEnv> {
  const admin = new Hono<GatewayEnv>();
  admin.use("*", requireMasterKey(deps), sizeLimit);

  admin.post("/keys", async (c) => {
    const body = await readBody(c, newKeyBody);
    const unknownModels = (body.models ?? []).filter((m) => !deps.config.models[m]);
    if (unknownModels.length) throw invalidRequest(`Unknown model(s): ${unknownModels.join(", ")}`, "models");
    const families = new Set(Object.values(deps.config.models).map((m) => m.family));
    const unknownFamilies = (body.families ?? []).filter((f) => !families.has(f));
    if (unknownFamilies.length) throw invalidRequest(`Unknown model family(ies): ${unknownFamilies.join(", ")}`, "families");
    const { budget_usd, budget_period, ...fields } = body;
    const created = await deps.keys.create(fields);
    // A key's budget is an ordinary budget of scope "key", so one ledger enforces every cap.
    const budget = budget_usd === undefined ? undefined : await deps.budgets.set({ scope: "key", subject: created.id, period: budget_period ?? "monthly", cap_usd: budget_usd });
    return c.json({ ...created, budget_usd: budget?.cap_usd ?? null, budget_period: budget?.period ?? null }, 201);
  });

  admin.get("/keys", async (c) => {
    const [keys, budgets] = await Promise.all([deps.keys.list(), deps.budgets.list()]);
    const byKey = new Map(budgets.filter((b) => b.scope === "key").map((b) => [b.subject, b]));
    return c.json({ data: keys.map((k) => ({ ...k, budget_usd: byKey.get(k.id)?.cap_usd ?? null, budget_period: byKey.get(k.id)?.period ?? null })) });
  });

  admin.delete("/keys/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await deps.keys.revoke(id))) throw notFound(`No active key with id ${id}`);
    return c.json({ id, revoked: true });
  });

  admin.get("/spend", async (c) => {
    const parsed = spendQuery.safeParse(c.req.query());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw invalidRequest(`Invalid query parameter ${issue.path.join(".") || ""}: ${issue.message}`, issue.path.join(".") || null);
    }
    return c.json({ group_by: parsed.data.group_by, rows: await deps.spend.query(parsed.data) });
  });

  admin.route("/budgets", budgetRoutes(deps));

  return admin;
}
