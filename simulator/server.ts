import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Behaviour, SimCall, SimProvider } from "./script.ts";
import type { Route } from "./route.ts";
import { SimState, scriptRequestSchema } from "./script.ts";
import { SimBadRequest, readBody, sendJson } from "./http.ts";
import { sendError } from "./errors.ts";
import { openaiChat, openaiEmbeddings, openaiModels } from "./openai.ts";
import { anthropicMessages } from "./anthropic.ts";
import { geminiRoutes } from "./gemini.ts";

/**
 * A stand-in for OpenAI, Anthropic and Gemini that speaks their real wire formats, so adapters
 * are tested end to end and the stack runs offline. Tests script it per model, in process or
 * over HTTP (`/__sim/*`), from another process such as a Worker under wrangler.
 */

export type { Behaviour, SimCall } from "./script.ts";

export interface Simulator {
  url: string;
  port: number;
  close(): Promise<void>;
  calls(): SimCall[];
  reset(): void;
  script(model: string, behaviour: Behaviour): void;
}

const GEMINI_PREFIX = "/gemini/v1beta/models/";

/** The provider's complaint about missing credentials, or undefined when the request may pass. */
function authProblem(provider: SimProvider, req: IncomingMessage, query: string): { status: number; message: string } | undefined {
  const h = req.headers;
  if (provider === "openai") {
    return /^Bearer\s+\S/i.test(h.authorization ?? "") ? undefined : { status: 401, message: "You didn't provide an API key." };
  }
  if (provider === "anthropic") {
    if (!h["x-api-key"]) return { status: 401, message: "x-api-key header is required" };
    return h["anthropic-version"] ? undefined : { status: 400, message: "anthropic-version: header is required" };
  }
  if (h["x-goog-api-key"] || new URLSearchParams(query).get("key")) return undefined;
  return { status: 403, message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key." };
}

function routeOf(method: string, path: string, query: string): { route: Route; urlModel?: string } | undefined {
  if (method !== "POST") return undefined;
  if (path === "/openai/v1/chat/completions") return { route: openaiChat };
  if (path === "/openai/v1/embeddings") return { route: openaiEmbeddings };
  if (path === "/anthropic/v1/messages") return { route: anthropicMessages };
  if (!path.startsWith(GEMINI_PREFIX)) return undefined;
  const rest = path.slice(GEMINI_PREFIX.length);
  const colon = rest.lastIndexOf(":");
  const action = rest.slice(colon + 1);
  const route = colon > 0 ? geminiRoutes[action] : undefined;
  // Without alt=sse Gemini streams a JSON array; only the SSE form is simulated.
  if (!route || (action === "streamGenerateContent" && new URLSearchParams(query).get("alt") !== "sse")) return undefined;
  return { route, urlModel: decodeURIComponent(rest.slice(0, colon)) };
}

async function serveProvider(state: SimState, req: IncomingMessage, res: ServerResponse, route: Route, urlModel: string | undefined, query: string) {
  const { provider } = route;
  const problem = authProblem(provider, req, query);
  if (problem) return sendError(res, provider, problem.status, problem.message);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(await readBody(req));
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("body is not an object");
  } catch {
    return sendError(res, provider, 400, "the request body is not a JSON object");
  }
  try {
    const target = route.target(body);
    const model = urlModel ?? target.model;
    const call: SimCall = { provider, model, stream: target.stream, kind: route.kind, at: Date.now(), cutShort: false, digest: digestOf(body, model) };
    state.record(call);
    // A response closed before it was finished: the gateway aborted it (or a scripted drop).
    res.once("close", () => {
      if (!res.writableFinished) call.cutShort = true;
    });
    const behaviour = state.behaviour(model);
    if (behaviour?.latencyMs) {
      // The wait ends early when the caller goes away (or the simulator closes), so a long scripted
      // latency never outlives its request.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, behaviour.latencyMs);
        res.once("close", () => (clearTimeout(timer), resolve()));
      });
      if (res.destroyed || res.writableEnded) return;
    }
    const failStatus = state.takeFailure(model);
    if (failStatus !== undefined) return sendError(res, provider, failStatus, `simulated failure (${failStatus}) for ${model}`);
    await route.respond(body, model, behaviour, res);
  } catch (err) {
    if (res.headersSent) return void res.destroy();
    if (err instanceof SimBadRequest) return sendError(res, provider, 400, err.message);
    sendError(res, provider, 500, `simulator error: ${(err as Error).message}`);
  }
}

function digestOf(body: Record<string, unknown>, model: string): string {
  const { stream: _stream, stream_options: _options, ...rest } = body;
  return createHash("sha256").update(model).update(JSON.stringify(rest)).digest("hex");
}

async function serveControl(state: SimState, req: IncomingMessage, res: ServerResponse, path: string) {
  if (req.method === "GET" && path === "/__sim/calls") return sendJson(res, 200, state.calls());
  if (req.method === "POST" && path === "/__sim/reset") {
    await readBody(req);
    state.reset();
    return sendJson(res, 200, { ok: true });
  }
  if (req.method === "POST" && path === "/__sim/script") {
    let parsed;
    try {
      parsed = scriptRequestSchema.safeParse(JSON.parse(await readBody(req)));
    } catch {
      return sendJson(res, 400, { error: "body is not JSON" });
    }
    if (!parsed.success) return sendJson(res, 400, { error: parsed.error.message });
    state.script(parsed.data.model, parsed.data.behaviour);
    return sendJson(res, 200, { ok: true });
  }
  sendJson(res, 404, { error: `no simulator control at ${req.method} ${path}` });
}

function handler(state: SimState) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    const method = req.method ?? "GET";
    if (path.startsWith("/__sim/")) return void serveControl(state, req, res, path);
    if (method === "GET" && path === "/openai/v1/models") {
      const problem = authProblem("openai", req, query);
      return problem ? sendError(res, "openai", problem.status, problem.message) : sendJson(res, 200, openaiModels(state.models()));
    }
    const found = routeOf(method, path, query);
    if (found) return void serveProvider(state, req, res, found.route, found.urlModel, query);
    const provider: SimProvider = path.startsWith("/anthropic/") ? "anthropic" : path.startsWith("/gemini/") ? "gemini" : "openai";
    sendError(res, provider, 404, `no simulated endpoint at ${method} ${path}`);
  };
}

export async function startSimulator(opts: { port?: number; host?: string } = {}): Promise<Simulator> {
  const state = new SimState();
  const server = createServer(handler(state));
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    calls: () => state.calls(),
    reset: () => state.reset(),
    script: (model, behaviour) => state.script(model, behaviour),
    // Idempotent: a test may close the simulator early (to cut calls it left hanging) and again in its stack's close.
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })),
  };
}
