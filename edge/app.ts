import { Hono } from "hono";
import type { GatewayDeps, GatewayEnv } from "./deps.ts";
import { GatewayError, notFound } from "./errors.ts";
import { bodySizeLimit } from "./request/limit.ts";
import { requireVirtualKey } from "./auth/middleware.ts";
import { handleChat } from "./chat/route.ts";
import { handleEmbeddings } from "./embeddings/route.ts";
import { handleModels } from "./models/route.ts";
import { adminRoutes } from "./admin/routes.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { hooksRoutes } from "./hooks/routes.ts";

/** The gateway: one Hono app for both entry points (Node and Worker). */
export function createApp(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const limit = deps.config.gateway.max_body_bytes;
  const sizeLimit = bodySizeLimit(limit);

  app.get("/health", (c) => c.json({ ok: true }));

  const v1 = new Hono<GatewayEnv>();
  v1.use("*", requireVirtualKey(deps));
  v1.post("/chat/completions", sizeLimit, (c) => handleChat(c, deps));
  v1.post("/embeddings", sizeLimit, (c) => handleEmbeddings(c, deps));
  v1.get("/models", (c) => handleModels(c, deps));
  app.route("/v1", v1);

  app.route("/admin", adminRoutes(deps, sizeLimit));
  app.route("/dashboard", dashboardRoutes(deps));
  app.route("/hooks", hooksRoutes(deps));

  app.notFound((c) => c.json(notFound(`Unknown route ${c.req.method} ${c.req.path}`).toBody(), 404));

  // The one place errors become HTTP: OpenAI's error shape, whatever went wrong.
  app.onError((error, c) => {
    if (error instanceof GatewayError) {
      return c.json(error.toBody(), error.status as 400, error.headers);
    }
    console.error("godotz gateway: unexpected error", error);
    return c.json({ error: { message: "Internal gateway error", type: "api_error", code: "internal_error", param: null } }, 500);
  });

  return app;
}
