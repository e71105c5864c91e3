import { Hono } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { notFound, unauthorized } from "../errors.ts";
import { sameSecret } from "../auth/middleware.ts";
import type { FleetReader } from "../../fleet-agent/registry/table.ts";
import { authorised, startSession } from "./session.ts";
import { nonce, pageHeaders } from "./routes.ts";
import { fleetPage, fleetSignInPage } from "./fleet-page.ts";

/** The gateway's dependencies plus the fleet reader (fleet_nodes, migrations/0010); without it /dashboard/fleet answers 404. */
export type FleetDashboardDeps = GatewayDeps & { fleet?: FleetReader };

/**
 * GET /fleet (the page) and GET /fleet.json (the nodes it polls), behind the same master-key
 * session as the task page (session.ts). The edge reads the fleet from Postgres: agents write
 * their registration and heartbeats there besides the NATS KV bucket, as a Worker cannot speak NATS.
 */
export function fleetDashboardRoutes(deps: FleetDashboardDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const fleet = deps.fleet;

  app.use("/fleet", async (_c, next) => {
    if (!fleet) throw notFound("The fleet dashboard is not available on this gateway (no fleet reader)");
    await next();
  });
  app.use("/fleet.json", async (_c, next) => {
    if (!fleet) throw notFound("The fleet dashboard is not available on this gateway (no fleet reader)");
    await next();
  });

  app.get("/fleet", async (c) => {
    const key = c.req.query("key");
    if (key !== undefined) {
      const n = nonce();
      if (!sameSecret(key, deps.masterKey)) return c.html(fleetSignInPage(n, "That is not the master key."), 401, pageHeaders(n));
      await startSession(c, deps.masterKey);
      return c.redirect(new URL(c.req.url).pathname, 303); // the key leaves the address bar at once
    }
    const n = nonce();
    if (!(await authorised(c, deps.masterKey))) return c.html(fleetSignInPage(n, "The fleet dashboard needs the master key."), 401, pageHeaders(n));
    return c.html(fleetPage(n), 200, pageHeaders(n));
  });

  app.get("/fleet.json", async (c) => {
    if (!(await authorised(c, deps.masterKey))) {
      throw unauthorized("The fleet dashboard needs the master key: a session from /dashboard/fleet?key=<master key>, or `Authorization: Bearer <master key>`");
    }
    const nodes = await fleet!.nodes();
    return c.json({ now: new Date().toISOString(), nodes }, 200, { "cache-control": "no-store" });
  });

  return app;
}
