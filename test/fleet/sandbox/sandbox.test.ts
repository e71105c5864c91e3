// The sandbox with real attempts: real bubblewrap, real proxy, real writes and connections.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createSandbox, type Sandbox, type SecurityEvent } from "../../../fleet-agent/sandbox/index.ts";
import { eventually, httpServer, processesWith, tcpServer, type CountingServer } from "./helpers.ts";

let sandbox: Sandbox;
let gateway: CountingServer;
let forbidden: CountingServer;
let database: CountingServer;
let root: string;
let secretsDir: string;
const events: SecurityEvent[] = [];
const BOUND = 20_000; // every run here ends well before; a run that reaches it failed its test

let n = 0;
const freshWorkDir = () => path.join(root, "work", `task-${++n}`);

before(async () => {
  gateway = await httpServer("gateway says hi");
  forbidden = await httpServer("should never be seen");
  database = await tcpServer();
  root = mkdtempSync(path.join(os.tmpdir(), "godotz-sandbox-test-"));
  secretsDir = path.join(root, "node-secrets");
  mkdirSync(secretsDir);
  writeFileSync(path.join(secretsDir, "token"), "node-token-123");
  sandbox = await createSandbox({ gatewayUrl: `http://127.0.0.1:${gateway.port}`, onSecurityEvent: (e) => events.push(e), denyRead: [secretsDir] });
});
after(async () => {
  await sandbox?.close();
  await Promise.all([gateway?.close(), forbidden?.close(), database?.close()]);
  rmSync(root, { recursive: true, force: true });
});

const eventsFor = (workDir: string) => events.filter((e) => e.workDir === workDir);

test("a command writes inside its work directory and nothing is reported", async () => {
  const workDir = freshWorkDir();
  const r = await sandbox.run("mkdir -p out && echo built > out/result.txt && cat out/result.txt && echo $HOME", { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, `built\n${workDir}\n`);
  assert.equal(readFileSync(path.join(workDir, "out/result.txt"), "utf8"), "built\n");
  assert.deepEqual(r.violations, []);
  assert.equal(r.endedBy, "exit");
  assert.deepEqual(eventsFor(workDir), []);
});

test("a write to /etc fails, is a violation and a security event saying what was tried", async () => {
  const workDir = freshWorkDir();
  const target = `/etc/godotz-sandbox-${randomUUID()}`;
  const r = await sandbox.run(`echo x > ${target}`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.notEqual(r.exitCode, 0);
  assert.equal(existsSync(target), false);
  assert.ok(r.violations.some((v) => v.kind === "write" && v.detail.includes(target)), JSON.stringify(r.violations));
  const e = eventsFor(workDir).find((x) => x.detail.includes(target));
  assert.ok(e, "security event recorded");
  assert.equal(e.kind, "write");
  assert.equal(e.command, `echo x > ${target}`);
  assert.ok(!Number.isNaN(Date.parse(e.at)));
});

test("a write to the parent of the work directory never lands and ends the task", async () => {
  const workDir = freshWorkDir();
  const outside = path.join(path.dirname(workDir), `escaped-${n}.txt`);
  const r = await sandbox.run(`echo x > ../${path.basename(outside)}; sleep 60`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(r.endedBy, "violation", "ended by the violation, not by the timeout");
  assert.equal(r.signal, "SIGKILL");
  assert.equal(existsSync(outside), false);
  assert.ok(r.violations.some((v) => v.kind === "write" && v.detail.includes(outside)));
  assert.ok(eventsFor(workDir).some((e) => e.kind === "write" && e.detail.includes(outside)));
});

test("sibling tasks' work directories are not visible", async () => {
  const sibling = freshWorkDir();
  mkdirSync(sibling, { recursive: true });
  writeFileSync(path.join(sibling, "notes.txt"), "sibling data");
  const workDir = freshWorkDir();
  const r = await sandbox.run(`cat ../${path.basename(sibling)}/notes.txt`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.notEqual(r.exitCode, 0);
  assert.doesNotMatch(r.stdout, /sibling data/);
});

test("the gateway is reachable through the proxy; another loopback port is refused and reported", async () => {
  const workDir = freshWorkDir();
  const ok = await sandbox.run(`curl -sS -m 10 http://127.0.0.1:${gateway.port}/v1/models`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.equal(ok.stdout, "gateway says hi");
  assert.deepEqual(ok.violations, []);

  const before = forbidden.hits();
  const blocked = await sandbox.run(`curl -sS -m 10 http://127.0.0.1:${forbidden.port}/; sleep 60`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(blocked.endedBy, "violation");
  assert.doesNotMatch(blocked.stdout, /should never be seen/);
  assert.equal(forbidden.hits(), before, "nothing reached the forbidden server");
  const v = blocked.violations.find((x) => x.kind === "network");
  assert.ok(v, JSON.stringify(blocked.violations));
  assert.match(v.detail, new RegExp(`127\\.0\\.0\\.1:${forbidden.port}`));
  assert.ok(eventsFor(workDir).some((e) => e.kind === "network" && e.detail.includes(`127.0.0.1:${forbidden.port}`)));
});

test("a raw TCP connection to a node service is refused both through the proxy (reported) and around it", async () => {
  const workDir = freshWorkDir();
  // A CONNECT tunnel through the sandbox's proxy, with the credentials the sandbox hands out.
  const viaProxy = [
    "const u = new URL(process.env.HTTPS_PROXY);",
    "const auth = Buffer.from(decodeURIComponent(u.username) + ':' + u.password).toString('base64');",
    `const s = require('net').connect(Number(u.port), u.hostname, () => s.write('CONNECT 127.0.0.1:${database.port} HTTP/1.1\\r\\nProxy-Authorization: Basic ' + auth + '\\r\\n\\r\\n'));`,
    "s.on('data', (d) => { process.stdout.write(d); s.end(); });",
  ].join(" ");
  const r1 = await sandbox.run(`node -e "${viaProxy}"; sleep 60`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  // The refusal ends the task at once, possibly before the 403 reaches the command's output.
  assert.equal(r1.endedBy, "violation", `${r1.stdout}\n${r1.stderr}`);
  assert.ok(r1.violations.some((v) => v.kind === "network" && v.detail.includes(`127.0.0.1:${database.port}`)));

  // Straight at the port: the sandbox's loopback is its own, so the node's service is not there.
  const r2 = await sandbox.run(`exec 3<>/dev/tcp/127.0.0.1/${database.port} && echo connected`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.notEqual(r2.exitCode, 0);
  assert.doesNotMatch(r2.stdout, /connected/);
  assert.equal(database.hits(), 0, "no connection ever reached the node's service");
});

test("a connection made with a forged attribution still ends the task that made it", async () => {
  const workDir = freshWorkDir();
  const forged = [
    "const u = new URL(process.env.HTTPS_PROXY);",
    "const auth = Buffer.from('srt.' + Buffer.from('someone-else').toString('base64') + ':' + u.password).toString('base64');",
    `const s = require('net').connect(Number(u.port), u.hostname, () => s.write('CONNECT 127.0.0.1:${database.port} HTTP/1.1\\r\\nProxy-Authorization: Basic ' + auth + '\\r\\n\\r\\n'));`,
    "s.on('data', (d) => { process.stdout.write(d); s.end(); });",
  ].join(" ");
  const r = await sandbox.run(`node -e "${forged}"; sleep 60`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(r.endedBy, "violation", `${r.stdout}\n${r.stderr}`);
  assert.ok(r.violations.some((v) => v.kind === "network" && v.detail.includes(`127.0.0.1:${database.port}`)));
  assert.equal(database.hits(), 0);
});

test("fetch from Node straight to the outside is refused and reported", async () => {
  const workDir = freshWorkDir();
  const r = await sandbox.run(`node -e "fetch('http://registry.example/pkg')"; sleep 60`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.equal(r.endedBy, "violation");
  assert.ok(r.violations.some((v) => v.kind === "network" && v.detail.includes("registry.example")), JSON.stringify(r.violations));
});

test("a host the run allows is reachable for that run only", async () => {
  const workDir = freshWorkDir();
  const allowed = await sandbox.run(`curl -sS -m 10 http://127.0.0.1:${forbidden.port}/`, { workDir, allowedHosts: [`127.0.0.1:${forbidden.port}`], timeoutMs: BOUND });
  assert.equal(allowed.stdout, "should never be seen");
  assert.deepEqual(allowed.violations, []);
  const next = await sandbox.run(`curl -sS -m 10 http://127.0.0.1:${forbidden.port}/`, { workDir, allowedHosts: [], timeoutMs: BOUND });
  assert.ok(next.violations.some((v) => v.kind === "network"));
});

test("concurrent runs with different allowlists each get exactly their own", async () => {
  const a = freshWorkDir();
  const b = freshWorkDir();
  const url = `http://127.0.0.1:${forbidden.port}/`;
  const [ra, rb] = await Promise.all([
    sandbox.run(`curl -sS -m 10 ${url}; echo; sleep 0.3; curl -sS -m 10 ${url}`, { workDir: a, allowedHosts: [`127.0.0.1:${forbidden.port}`], timeoutMs: BOUND }),
    sandbox.run(`curl -sS -m 10 ${url}`, { workDir: b, allowedHosts: [], timeoutMs: BOUND }),
  ]);
  assert.equal(ra.stdout, "should never be seen\nshould never be seen");
  assert.deepEqual(ra.violations, []);
  assert.doesNotMatch(rb.stdout, /should never be seen/);
  assert.ok(rb.violations.some((v) => v.kind === "network"));
});

test("the agent's environment is invisible; the task sees only the minimal one and its own", async () => {
  const secret = `sk-live-${randomUUID()}`;
  process.env.GODOTZ_SANDBOX_TEST_SECRET = secret;
  try {
    const workDir = freshWorkDir();
    const r = await sandbox.run("env", { workDir, allowedHosts: [], env: { TASK_ID: "t-42" }, timeoutMs: BOUND });
    assert.equal(r.exitCode, 0);
    assert.ok(!r.stdout.includes(secret), "agent secret not visible");
    assert.doesNotMatch(r.stdout, /GODOTZ_SANDBOX_TEST_SECRET/);
    assert.match(r.stdout, /^TASK_ID=t-42$/m);
    assert.match(r.stdout, new RegExp(`^HOME=${workDir}$`, "m"));
    assert.match(r.stdout, new RegExp(`^TMPDIR=${workDir}/\\.tmp$`, "m"));
  } finally {
    delete process.env.GODOTZ_SANDBOX_TEST_SECRET;
  }
});

test("the node's home (its ~/.ssh), a secrets directory and /etc/shadow are not readable", async () => {
  const home = path.join(root, "agent-home");
  mkdirSync(path.join(home, ".ssh"), { recursive: true });
  writeFileSync(path.join(home, ".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL");
  const savedHome = process.env.HOME;
  process.env.HOME = home; // os.homedir() follows HOME: this stands in for the node's home
  try {
    const workDir = freshWorkDir();
    for (const file of [path.join(home, ".ssh/id_ed25519"), path.join(secretsDir, "token"), "/etc/shadow"]) {
      const r = await sandbox.run(`cat ${file}`, { workDir, allowedHosts: [], timeoutMs: BOUND });
      assert.notEqual(r.exitCode, 0, `${file} was readable: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /PRIVATE-KEY-MATERIAL|node-token-123|root:/);
    }
  } finally {
    process.env.HOME = savedHome;
  }
});

test("stdin reaches the command", async () => {
  const r = await sandbox.run("tr a-z A-Z", { workDir: freshWorkDir(), allowedHosts: [], stdin: "hello sandbox", timeoutMs: BOUND });
  assert.equal(r.stdout, "HELLO SANDBOX");
});

test("a timeout kills the whole sandboxed process tree", async () => {
  const workDir = freshWorkDir();
  const marker = `godotz-timeout-${randomUUID()}`;
  const r = await sandbox.run(`(while :; do date +%s%N > beat; sleep 0.05; done) & sleep 60 # ${marker}`, { workDir, allowedHosts: [], timeoutMs: 4_000 });
  assert.equal(r.endedBy, "timeout");
  assert.equal(r.signal, "SIGKILL");
  assert.equal(r.exitCode, null);
  assert.ok(await eventually(() => processesWith(marker).length === 0), "no process of the run is left");
  const beat = readFileSync(path.join(workDir, "beat"), "utf8");
  await sleep(300); // six heartbeats' worth: a surviving loop would have written again
  assert.equal(readFileSync(path.join(workDir, "beat"), "utf8"), beat, "the background loop is dead");
});

test("an abort signal ends the run the same way", async () => {
  const marker = `godotz-abort-${randomUUID()}`;
  const controller = new AbortController();
  const running = sandbox.run(`sleep 60 # ${marker}`, { workDir: freshWorkDir(), allowedHosts: [], timeoutMs: BOUND, signal: controller.signal });
  assert.ok(await eventually(() => processesWith(marker).length > 0), "the run started");
  controller.abort();
  const r = await running;
  assert.equal(r.endedBy, "abort");
  assert.ok(await eventually(() => processesWith(marker).length === 0));
});

test("bad input is refused with a typed error and nothing runs", async () => {
  const workDir = freshWorkDir();
  const marker = path.join(workDir, "ran");
  const cmd = `touch ${marker}`;
  const bad: Array<[string, () => Promise<unknown>]> = [
    ["relative workDir", () => sandbox.run(cmd, { workDir: "relative/dir", allowedHosts: [], timeoutMs: BOUND })],
    ["workDir at the root", () => sandbox.run(cmd, { workDir: "/godotz-task", allowedHosts: [], timeoutMs: BOUND })],
    ["workDir in /usr", () => sandbox.run(cmd, { workDir: "/usr/local/godotz-task", allowedHosts: [], timeoutMs: BOUND })],
    ["workDir holding the agent", () => sandbox.run(cmd, { workDir: process.cwd(), allowedHosts: [], timeoutMs: BOUND })],
    ["every loopback port", () => sandbox.run(cmd, { workDir, allowedHosts: ["localhost"], timeoutMs: BOUND })],
    ["any host", () => sandbox.run(cmd, { workDir, allowedHosts: ["*"], timeoutMs: BOUND })],
    ["not a host", () => sandbox.run(cmd, { workDir, allowedHosts: ["http://evil.example/path"], timeoutMs: BOUND })],
    ["hosts not a list", () => sandbox.run(cmd, { workDir, allowedHosts: "example.com" as unknown as string[], timeoutMs: BOUND })],
    ["zero timeout", () => sandbox.run(cmd, { workDir, allowedHosts: [], timeoutMs: 0 })],
    ["bad env name", () => sandbox.run(cmd, { workDir, allowedHosts: [], env: { "A=B": "x" }, timeoutMs: BOUND })],
    ["empty command", () => sandbox.run("  ", { workDir, allowedHosts: [], timeoutMs: BOUND })],
    ["workDir is a file", () => sandbox.run(cmd, { workDir: path.join(secretsDir, "token"), allowedHosts: [], timeoutMs: BOUND })],
  ];
  for (const [name, attempt] of bad) {
    await assert.rejects(attempt(), { name: "SandboxOptionsError" }, name);
  }
  const aborted = AbortSignal.abort();
  await assert.rejects(sandbox.run(cmd, { workDir, allowedHosts: [], timeoutMs: BOUND, signal: aborted }), { name: "AbortError" });
  assert.equal(existsSync(marker), false, "nothing ran");
});

test("a second sandbox in the same process is refused: the runtime is process-wide", async () => {
  await assert.rejects(createSandbox({}), { name: "SandboxUnavailableError", message: /already open/ });
});
