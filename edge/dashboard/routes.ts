import { Hono, type Context } from "hono";
import { z } from "zod";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { invalidRequest, notFound, unauthorized } from "../errors.ts";
import { sameSecret } from "../auth/middleware.ts";
import { schedule } from "../../workers/tasks/schedule.ts";
import { TaskInputError, TaskNotFoundError } from "../../workers/tasks/errors.ts";
import { authorised, startSession } from "./session.ts";
import { signInPage, tasksPage } from "./page.ts";
import { fleetDashboardRoutes } from "./fleet-routes.ts";

const name = z.string().trim().min(1).max(200);
const filters = z.object({
  swarm: name.optional(),
  run: name.optional(),
  id: z.array(z.string().max(100)).max(500).default([]),
  default_minutes: z.coerce.number().int().positive().max(10_080).optional(),
});

export function nonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** The page's script and style run by nonce only; it talks to its own origin and cannot be framed. */
export function pageHeaders(n: string): Record<string, string> {
  return {
    "content-security-policy": `default-src 'none'; script-src 'nonce-${n}'; style-src 'nonce-${n}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
}

/** The dashboard: GET /tasks (the page) and GET /tasks.json (the schedule it polls). See session.ts for the auth. */
export function dashboardRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const tasks = deps.tasks;

  // Before the task store guard below: the fleet page needs the fleet reader, not the task store.
  app.route("/", fleetDashboardRoutes(deps));

  app.use("*", async (_c, next) => {
    // An entry built without a task store (tests, embedders) has no dashboard rather than a failing one.
    if (!tasks) throw notFound("The task dashboard is not available on this gateway (no task store)");
    await next();
  });

  const refuse = (c: Context<GatewayEnv>, message: string) => {
    const n = nonce();
    return c.html(signInPage(n, message), 401, pageHeaders(n));
  };

  app.get("/tasks", async (c) => {
    const key = c.req.query("key");
    if (key !== undefined) {
      if (!sameSecret(key, deps.masterKey)) return refuse(c, "That is not the master key.");
      await startSession(c, deps.masterKey);
      // Drop the key from the address bar and history straight away.
      const url = new URL(c.req.url);
      url.searchParams.delete("key");
      return c.redirect(`${url.pathname}${url.search}`, 303);
    }
    if (!(await authorised(c, deps.masterKey))) return refuse(c, "The task dashboard needs the master key.");
    const n = nonce();
    return c.html(tasksPage(n), 200, pageHeaders(n));
  });

  app.get("/tasks.json", async (c) => {
    if (!(await authorised(c, deps.masterKey))) {
      throw unauthorized("The task dashboard needs the master key: a session from /dashboard/tasks?key=<master key>, or `Authorization: Bearer <master key>`");
    }
    const parsed = filters.safeParse({ ...c.req.query(), id: c.req.queries("id") ?? [] });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw invalidRequest(`${issue.path.join(".")}: ${issue.message}`, String(issue.path[0] ?? ""));
    }
    const q = parsed.data;
    let timeline;
    try {
      timeline = await tasks!.timeline({ swarm: q.swarm, run: q.run, ids: q.id });
    } catch (error) {
      if (error instanceof TaskNotFoundError) throw notFound(error.message);
      if (error instanceof TaskInputError) throw invalidRequest(error.message, "id");
      throw error;
    }
    const plan = schedule(timeline.tasks, timeline.edges, { now: new Date(), samples: timeline.samples, defaultMinutes: q.default_minutes, select: timeline.selected });
    return c.json(plan, 200, { "cache-control": "no-store" });
  });

  return app;
}
