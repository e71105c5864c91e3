import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { chromium, type BrowserContext } from "playwright-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { MASTER_KEY, startStack, type Stack } from "../helpers/stack.ts";
import { createApp } from "../../edge/app.ts";
import { TaskStore } from "../../workers/tasks/index.ts";
import { FleetAgent, loadAgentConfig, readFleet, submitTask } from "../../fleet-agent/index.ts";
import { startNats, waitFor, type NatsServer } from "./helpers.ts";
import { recordingExecutor } from "./fake-executor.ts";

// The live fleet page (/dashboard/fleet) in Debian's headless Chromium, fed by a real fleet agent
// (in this process, recording executor) through fleet_nodes, as `godotz fleet status` is.
const CHROMIUM = "/usr/bin/chromium";
// Beside the task page's screenshots (a git-ignored folder), for a human to look at.
const SHOTS = fileURLToPath(new URL("../dashboard/screenshots/", import.meta.url));

let stack: Stack;
let nats: NatsServer;
let nc: NatsConnection;
let server: ServerType;
let url: string;
let agent: FleetAgent;
let context: BrowserContext | undefined;
let profile: string | undefined;
const executor = recordingExecutor();

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: run \`apt-get install -y chromium\``);
  stack = await startStack();
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  // The gateway's deps as edge/node.ts builds them (fleet reader included), served here so the
  // page can be checked against the reader over the same database.
  const app = createApp(stack.gateway.deps);
  assert.ok(stack.gateway.deps.fleet, "edge/node.ts wires the fleet reader");
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = await FleetAgent.start({
    config: loadAgentConfig({ nodeId: "web-a", roles: ["painter"], capacity: 4, heartbeatMs: 300, ackWaitMs: 2_000, labels: ["<b>lab</b>"] }, {}),
    executor, sql: stack.gateway.sql, natsUrl: nats.url, log: () => {},
  });
  await stack.gateway.sql`INSERT INTO fleet_nodes (id, hostname, os, arch, cpus, memory_bytes, version, capacity, running_tasks, status, heartbeat_interval_ms, started_at, last_heartbeat)
    VALUES ('mac-mini', 'mini.local', 'darwin', 'arm64', 8, 17179869184, '0.1.0', 18, '{gz-old1}', 'up', 1000, now() - interval '1 hour', now() - interval '1 minute')`;
});

after(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  executor.release();
  await agent?.drain();
  await nc?.close();
  await nats?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stack?.close();
});

const dash = (route: string, init: RequestInit = {}) => fetch(`${url}/dashboard${route}`, { redirect: "manual", ...init });

test("the fleet page and fleet.json need the master key: once as ?key= for a session cookie, or as a Bearer token", async () => {
  assert.equal((await dash("/fleet")).status, 401);
  const json = await dash("/fleet.json");
  assert.equal(json.status, 401);
  assert.equal(((await json.json()) as { error: { type: string } }).error.type, "authentication_error");
  assert.equal((await dash("/fleet?key=wrong")).status, 401);
  const signedIn = await dash(`/fleet?key=${MASTER_KEY}`);
  assert.equal(signedIn.status, 303);
  assert.equal(signedIn.headers.get("location"), "/dashboard/fleet", "the key leaves the URL");
  const cookie = (signedIn.headers.get("set-cookie") ?? assert.fail("a session cookie")).split(";")[0]!;
  const page = await dash("/fleet", { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'nonce-/);
  assert.equal((await dash("/fleet.json", { headers: { cookie } })).status, 200);
  assert.equal((await dash("/fleet.json", { headers: { authorization: "Bearer nope", cookie } })).status, 401);

  const res = await dash("/fleet.json", { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  const body = (await res.json()) as { nodes: { id: string; health: string }[] };
  assert.deepEqual(body.nodes.map((n) => [n.id, n.health]), (await readFleet(stack.gateway.sql)).map((n) => [n.id, n.health]));
  assert.deepEqual(body.nodes.map((n) => [n.id, n.health]), [["mac-mini", "down"], ["web-a", "up"]]);

  // Without a fleet reader the page is absent, and the task page is unaffected.
  const bare = createApp({ ...stack.gateway.deps, fleet: undefined });
  assert.equal((await bare.request("/dashboard/fleet.json", { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status, 404);
  assert.equal((await bare.request("/dashboard/tasks.json", { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status, 200);
});

interface Card { id: string; health: string; running: string; capacity: string; tasks: string; platform: string; load: string; title: string }
const READ_BOARD = `(() => [...document.querySelectorAll("#board svg g.node")].map((g) => ({
  id: g.getAttribute("data-id"), health: g.getAttribute("data-health"), running: g.getAttribute("data-running"),
  capacity: g.getAttribute("data-capacity"), tasks: g.getAttribute("data-tasks"),
  platform: g.querySelector("text.platform").textContent, load: g.querySelector("text.load").textContent,
  title: g.querySelector("title").textContent,
})))()`;

test("the page draws every node as SVG and follows the fleet live, without a reload", { timeout: 90_000 }, async () => {
  profile = await mkdtemp(join(tmpdir(), "godotz-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 420 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${url}/dashboard/fleet?key=${MASTER_KEY}`);
  assert.equal(new URL(page.url()).pathname, "/dashboard/fleet");
  assert.equal(new URL(page.url()).search, "", "the key left the address bar");
  await page.waitForSelector("#board svg g.node", { timeout: 10_000 });
  const cards = await page.evaluate<Card[]>(READ_BOARD);
  assert.deepEqual(cards.map((c) => [c.id, c.health, c.running, c.capacity]), [["mac-mini", "down", "0", "18"], ["web-a", "up", "0", "4"]]);
  assert.match(cards[0]!.platform, /^darwin\/arm64 · 8 CPUs · 16\.0 GiB/);
  assert.equal(cards[1]!.platform.split(" · ")[0], `${process.platform}/${process.arch}`);
  assert.match(cards[1]!.title, /labels: <b>lab<\/b>/, "labels are text, not markup");
  assert.equal(await page.locator("#board b").count(), 0);
  await page.evaluate("window.__sameDocument = true");

  // A task starts on web-a: the card shows it running, from the page's own poll.
  const store = new TaskStore(stack.gateway.sql);
  const { task } = await submitTask({ store, js: jetstream(nc) }, { task: { title: "paint" }, dispatch: { command: "hold", role: "painter" } });
  await page.waitForSelector(`g.node[data-id="web-a"][data-running="1"]`, { timeout: 10_000 });
  const busy = (await page.evaluate<Card[]>(READ_BOARD)).find((c) => c.id === "web-a")!;
  assert.equal(busy.tasks, task.id);
  assert.equal(busy.load, "load 1/4");
  assert.match((await page.locator("#summary").textContent()) ?? "", /^2 nodes · 1 up · 1\/4 slots busy$/);
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, "fleet.png"), fullPage: true });

  // It finishes, then the node drains and stops: the page follows.
  executor.release();
  await waitFor("the task to close", async () => (await store.get(task.id)).status === "closed");
  await page.waitForSelector(`g.node[data-id="web-a"][data-running="0"]`, { timeout: 10_000 });
  await agent.drain();
  await page.waitForSelector(`g.node[data-id="web-a"][data-health="stopped"]`, { timeout: 10_000 });
  assert.equal(await page.evaluate<boolean>("window.__sameDocument === true"), true, "updated without a reload");
  await page.screenshot({ path: join(SHOTS, "fleet-after-drain.png"), fullPage: true });
  assert.deepEqual(errors, [], "no script errors");
});
