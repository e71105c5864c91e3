import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { generateSignedCookie } from "hono/cookie";
import { MASTER_KEY, startStack, type Stack } from "../helpers/stack.ts";
import { createApp } from "../../edge/app.ts";
import { schedule, TaskStore, type Schedule } from "../../workers/tasks/index.ts";

// FR-L5-003: the `bd gantt` view as a web page, checked in Debian's headless Chromium against
// the schedule workers/tasks/schedule.ts computes for the same data.
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = fileURLToPath(new URL("./screenshots/", import.meta.url));
const SWARM = "dash";

let stack: Stack;
let store: TaskStore;
let context: BrowserContext | undefined;
let profile: string | undefined;
const ids: Record<string, string> = {};

before(async () => {
  // Fail, never skip: a missing browser is a broken test machine (.ci/run installs it).
  assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: run \`apt-get install -y chromium\` (.ci/run does this when it is missing)`);
  stack = await startStack();
  store = new TaskStore(stack.gateway.sql);
  const sql = stack.gateway.sql;
  const make = async (key: string, title: string, estimate: number, deps: string[] = []) =>
    (ids[key] = (await store.create({ title, swarm: SWARM, estimated_minutes: estimate, dependencies: deps.map((d) => ({ type: "blocks" as const, depends_on_id: ids[d]! })) })).task.id);
  await make("design", "Design the <b>schema</b> & API", 60);
  await make("build", "Build the gateway routes", 90, ["design"]);
  await make("docs", "Write the docs", 20, ["build"]);
  await make("tests", "Integration tests against real Postgres", 40, ["build"]);
  await make("ship", "Ship it", 10, ["docs", "tests"]);
  await store.create({ title: "another swarm's task", swarm: "elsewhere", estimated_minutes: 500 });
  await sql`UPDATE tasks SET status = 'closed', started_at = now() - interval '3 hours', closed_at = now() - interval '2 hours' WHERE id = ${ids.design!}`;
  await store.claimTask(ids.build!, { worker: "w1" });
  await sql`UPDATE tasks SET started_at = now() - interval '30 minutes' WHERE id = ${ids.build!}`;
  await store.update(ids.tests!, { status: "blocked" });
});

after(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await stack?.close();
});

const dash = (route: string, init: RequestInit = {}) => fetch(`${stack.gateway.url}/dashboard${route}`, { redirect: "manual", ...init });

test("without the master key, with a wrong key or a bad or expired cookie: 401; the key once gives a signed HttpOnly SameSite=Strict cookie", async () => {
  const page = await dash("/tasks");
  assert.equal(page.status, 401);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const json = await dash("/tasks.json");
  assert.equal(json.status, 401);
  assert.equal(((await json.json()) as { error: { type: string } }).error.type, "authentication_error");

  const wrong = await dash("/tasks?key=not-the-master-key");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);

  const signedIn = await dash(`/tasks?swarm=${SWARM}&key=${MASTER_KEY}`);
  assert.equal(signedIn.status, 303);
  assert.equal(signedIn.headers.get("location"), `/dashboard/tasks?swarm=${SWARM}`, "the key leaves the URL");
  const setCookie = signedIn.headers.get("set-cookie") ?? assert.fail("a session cookie");
  for (const attribute of ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age="]) assert.ok(setCookie.includes(attribute), `${attribute} in ${setCookie}`);
  assert.ok(!setCookie.includes(MASTER_KEY), "the cookie does not carry the key");
  const cookie = setCookie.split(";")[0]!;
  assert.equal((await dash("/tasks", { headers: { cookie } })).status, 200);
  assert.equal((await dash("/tasks.json", { headers: { cookie } })).status, 200);

  const [cookieName, cookieValue] = cookie.split("=") as [string, string];
  const [payload, signature] = decodeURIComponent(cookieValue).split(/\.(?=[^.]*$)/) as [string, string];
  const forged = `${cookieName}=${encodeURIComponent(`dashboard.99999999999.${signature}`)}`;
  const otherKey = (await generateSignedCookie(cookieName, payload, "some-other-secret")).split(";")[0]!;
  const expired = (await generateSignedCookie(cookieName, `dashboard.${Math.floor(Date.now() / 1000) - 1}`, MASTER_KEY)).split(";")[0]!;
  for (const bad of [`${cookieName}=garbage`, forged, otherKey, expired]) {
    assert.equal((await dash("/tasks.json", { headers: { cookie: bad } })).status, 401, bad);
    assert.equal((await dash("/tasks", { headers: { cookie: bad } })).status, 401, bad);
  }
  assert.equal((await dash("/tasks.json", { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status, 200);
  assert.equal((await dash("/tasks.json", { headers: { authorization: "Bearer nope", cookie } })).status, 401, "a wrong Bearer is not rescued by the cookie");

  const bare = createApp({ ...stack.gateway.deps, tasks: undefined });
  assert.equal((await bare.request("/dashboard/tasks.json", { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status, 404);
});

test("tasks.json is the `bd gantt --json` schedule, filtered by swarm", async () => {
  const res = await dash(`/tasks.json?swarm=${SWARM}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  assert.equal(res.status, 200);
  const plan = (await res.json()) as { now: string; eta: string; critical_path: string[]; tasks: { id: string }[] };
  assert.deepEqual(plan.tasks.map((t) => t.id), [ids.design, ids.build, ids.docs, ids.tests, ids.ship]);
  assert.deepEqual(plan.critical_path, [ids.build, ids.tests, ids.ship]);
  const bad = await dash(`/tasks.json?id=nope`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  assert.equal(bad.status, 400);
});

/** Everything the page shows, read in one turn of its event loop so a poll cannot land halfway. */
interface Chart {
  now: string;
  eta: string;
  etaText: string;
  criticalPath: string | null;
  nowLines: number;
  legend: string;
  rows: { id: string; rowClass: string; bars: string[]; critical: boolean; eta: string; etaText: string; title: string }[];
}
const READ_CHART = `(() => {
  const svg = document.querySelector("#chart svg");
  if (!svg) return null;
  const rows = [...svg.querySelectorAll("g.row")].map((g) => ({
    id: g.getAttribute("data-id"),
    rowClass: g.getAttribute("class"),
    bars: [...g.querySelectorAll("g.bar")].map((b) => b.getAttribute("class")),
    critical: g.querySelector(".critical-mark") !== null,
    eta: g.querySelector("text.eta").getAttribute("data-eta"),
    etaText: g.querySelector("text.eta").textContent,
    title: g.querySelector("text.title").textContent,
  }));
  return {
    now: svg.getAttribute("data-now"),
    eta: svg.querySelector("#set-eta").getAttribute("data-eta"),
    etaText: svg.querySelector("#set-eta").textContent,
    criticalPath: svg.querySelector("#critical-path")?.textContent ?? null,
    nowLines: svg.querySelectorAll("line.now").length,
    legend: svg.querySelector(".legend").textContent,
    rows,
  };
})()`;

const pad2 = (n: number) => String(n).padStart(2, "0");
const day = (d: Date) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
const clock = (d: Date) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
const when = (d: Date, now: Date) => (day(d) === day(now) ? clock(d) : `${day(d)} ${clock(d)}`);

/** The schedule the page should show: the same data through workers/tasks/schedule.ts at the page's `now`. */
async function expected(now: Date): Promise<Schedule> {
  const t = await store.timeline({ swarm: SWARM });
  return schedule(t.tasks, t.edges, { now, samples: t.samples, select: t.selected });
}

async function checkAgainstSchedule(page: Page, unfinished: number): Promise<Schedule> {
  const chart = (await page.evaluate<Chart | null>(READ_CHART)) ?? assert.fail("the page drew no chart");
  const now = new Date(chart.now);
  assert.ok(Math.abs(now.getTime() - Date.now()) < 30_000, "the page shows a fresh schedule");
  const plan = await expected(now);
  assert.equal(chart.rows.length, plan.tasks.length, "one row per task");
  assert.equal(chart.nowLines, 2, "the now line (and its legend swatch)");
  plan.tasks.forEach((t, i) => {
    const row = chart.rows[i]!;
    assert.equal(row.id, t.id);
    assert.equal(row.bars.length, 1, `one bar for ${t.id}`);
    assert.deepEqual(row.bars[0]!.split(" ").sort(), ["bar", t.kind, ...(t.critical ? ["critical"] : [])].sort(), `${t.id}'s bar`);
    assert.ok(row.rowClass.split(" ").includes(`status-${t.status}`), `${t.id} is ${t.status}: ${row.rowClass}`);
    assert.equal(row.critical, t.critical, `${t.id} critical mark`);
    assert.equal(row.eta, t.eta?.toISOString() ?? "", `${t.id} ETA`);
    assert.equal(row.etaText, t.kind === "done" ? `done ${when(t.end!, now)}` : `eta ${when(t.eta!, now)}`);
  });
  const eta = plan.eta ?? assert.fail("work is left");
  assert.equal(chart.eta, eta.toISOString(), "the set's ETA is schedule.ts's");
  const minutes = Math.round((eta.getTime() - now.getTime()) / 60_000);
  const inText = [Math.floor(minutes / 60) ? `${Math.floor(minutes / 60)}h` : "", minutes % 60 ? `${minutes % 60}m` : ""].filter(Boolean).join(" ");
  assert.equal(chart.etaText, `ETA ${day(eta)} ${clock(eta)} (in ${inText}) for ${unfinished} unfinished of ${plan.tasks.length} tasks`);
  assert.equal(chart.criticalPath, `Critical path: ${plan.critical_path.join(" → ")}`);
  for (const word of ["done", "running", "planned", "blocked", "critical path", "now"]) assert.ok(chart.legend.includes(word), `legend has ${word}`);
  assert.equal(chart.rows[0]!.title, "Design the <b>schema</b> & API", "titles are text, not markup");
  return plan;
}

test("the page draws the schedule as SVG in headless Chromium and follows changes without a reload", { timeout: 60_000 }, async () => {
  profile = await mkdtemp(join(tmpdir(), "godotz-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 420 },
    timezoneId: Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${stack.gateway.url}/dashboard/tasks?swarm=${SWARM}&key=${MASTER_KEY}`);
  assert.equal(new URL(page.url()).search, `?swarm=${SWARM}`, "redirected to the page without the key");
  await page.waitForSelector("#chart svg g.row", { timeout: 10_000 });
  assert.equal(await page.locator("#filter").textContent(), `swarm ${SWARM}`);

  const before = await checkAgainstSchedule(page, 4);
  assert.deepEqual(before.critical_path, [ids.build, ids.tests, ids.ship]);
  assert.deepEqual(before.tasks.filter((t) => t.critical).map((t) => t.id), [ids.build, ids.tests, ids.ship]);
  assert.equal(before.tasks.find((t) => t.id === ids.tests)!.status, "blocked");
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, "tasks.png"), fullPage: true });

  // Live: the running task closes; the page's own poll redraws it as done, same document.
  await page.evaluate("window.__sameDocument = true");
  await store.close(ids.build!, "merged");
  await page.waitForSelector(`g.row[data-id="${ids.build}"] g.bar.done`, { timeout: 8_000 });
  assert.equal(await page.evaluate<boolean>("window.__sameDocument === true"), true, "updated without a reload");
  const afterClose = await checkAgainstSchedule(page, 3);
  assert.equal(afterClose.tasks.find((t) => t.id === ids.build)!.kind, "done");
  await page.screenshot({ path: join(SHOTS, "tasks-after-close.png"), fullPage: true });
  assert.deepEqual(errors, [], "no script errors");
});
