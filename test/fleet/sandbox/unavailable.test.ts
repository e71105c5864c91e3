// Fail-closed (NFR-S-003): where the sandbox cannot be set up, createSandbox refuses with
// SandboxUnavailableError and nothing runs, never bare.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SandboxManager } from "@anthropic-ai/sandbox-runtime";
import { createSandbox, SandboxUnavailableError } from "../../../fleet-agent/sandbox/index.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/run-marker.ts", import.meta.url));
const TOOLS = ["which", "sh", "bash", "socat", "rg", "touch", "env", "cat"];
let root: string;

before(() => {
  root = mkdtempSync(path.join(os.tmpdir(), "godotz-sandbox-unavailable-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A bin directory holding the tools the sandbox needs, with or without bubblewrap. */
function binDir(name: string, withBwrap: boolean): string {
  const dir = path.join(root, name);
  mkdirSync(dir);
  for (const tool of [...TOOLS, ...(withBwrap ? ["bwrap"] : [])]) {
    const found = spawnSync("which", [tool], { encoding: "utf8" }).stdout.trim();
    assert.ok(found, `${tool} is installed on this machine`);
    symlinkSync(found, path.join(dir, tool));
  }
  return dir;
}

function runFixture(pathDir: string, label: string): { code: number | null; output: string; marker: string } {
  // Not beside the bin directories: a work directory's parent is hidden from the task.
  const workDir = path.join(root, "work", label);
  const marker = path.join(workDir, "ran-marker");
  const r = spawnSync(process.execPath, ["--import", "tsx", FIXTURE, marker, workDir], {
    env: { PATH: pathDir, HOME: path.join(root, "home") }, // the agent's home is hidden from tasks: keep the tools out of it
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}`, marker };
}

test("control: with bubblewrap on PATH the same program runs the command", () => {
  const r = runFixture(binDir("bin-with", true), "with");
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /ran: exit 0/);
  assert.equal(existsSync(r.marker), true);
});

test("without bubblewrap on PATH the sandbox is refused and nothing runs", () => {
  const r = runFixture(binDir("bin-without", false), "without");
  assert.equal(r.code, 3, r.output);
  assert.match(r.output, /unavailable: .*bubblewrap \(bwrap\) not installed/);
  assert.equal(existsSync(r.marker), false, "nothing ran");
});

test("a bubblewrap that cannot create namespaces is caught by the start-up self-test", async () => {
  const log = path.join(root, "fake-bwrap.log");
  const fake = path.join(root, "fake-bwrap");
  // What bwrap prints on a kernel that forbids unprivileged user namespaces.
  writeFileSync(fake, `#!/bin/sh\necho invoked >> ${log}\necho "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n`);
  chmodSync(fake, 0o755);
  await assert.rejects(createSandbox({ bwrapPath: fake }), (e: unknown) => {
    assert.ok(e instanceof SandboxUnavailableError);
    assert.match(e.message, /cannot run in the sandbox.*No permissions to creating new namespace/s);
    return true;
  });
  assert.match(readFileSync(log, "utf8"), /invoked/, "the self-test did go through bwrap");
});

test("a bubblewrap path that does not exist is refused", async () => {
  await assert.rejects(createSandbox({ bwrapPath: path.join(root, "no-such-bwrap") }), { name: "SandboxUnavailableError", message: /not executable/ });
});

test("a failing or weakened dependency check is refused with its reasons", async () => {
  await assert.rejects(createSandbox({ checkDependencies: async () => ({ errors: ["socat not installed"], warnings: [] }) }), { name: "SandboxUnavailableError", message: /socat not installed/ });
  await assert.rejects(createSandbox({ checkDependencies: async () => ({ errors: [], warnings: ["seccomp not available - unix socket access not restricted"] }) }), { name: "SandboxUnavailableError", message: /seccomp not available/ });
});

test("bad options are a typed error", async () => {
  await assert.rejects(createSandbox({ gatewayUrl: "not a url" }), { name: "SandboxOptionsError" });
  await assert.rejects(createSandbox({ gatewayUrl: "ftp://gateway.example" }), { name: "SandboxOptionsError" });
  await assert.rejects(createSandbox({ denyRead: ["relative/secrets"] }), { name: "SandboxOptionsError" });
  await assert.rejects(createSandbox({ bwrapPath: 42 as unknown as string }), { name: "SandboxOptionsError" });
});

test("after refusals the process can still set up a working sandbox", async () => {
  const sandbox = await createSandbox({});
  try {
    const r = await sandbox.run("echo fine", { workDir: path.join(root, "recovered"), allowedHosts: [], timeoutMs: 15_000 });
    assert.equal(r.stdout, "fine\n");
  } finally {
    await sandbox.close();
  }
  await assert.rejects(sandbox.run("echo again", { workDir: path.join(root, "recovered"), allowedHosts: [], timeoutMs: 15_000 }), { name: "SandboxUnavailableError", message: /closed/ });
});

test("once the library has torn its runtime down (as it does on SIGINT/SIGTERM) no task starts", async () => {
  const sandbox = await createSandbox({});
  try {
    await SandboxManager.reset(); // what the library's own signal handler runs
    const marker = path.join(root, "torn-down", "ran");
    await assert.rejects(sandbox.run(`touch ${marker}`, { workDir: path.dirname(marker), allowedHosts: [], timeoutMs: 15_000 }), { name: "SandboxUnavailableError", message: /shut down/ });
    assert.equal(existsSync(marker), false);
  } finally {
    await sandbox.close();
  }
});
