import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { startStack, MASTER_KEY, type Stack } from "../helpers/stack.ts";

// A second gateway in its own OS process on the same database: it caches keys in its own memory,
// so only the revocation notice from Postgres can tell it that another process revoked a key.
const secondGateway = `
const { startNodeGateway } = await import(${JSON.stringify(new URL("../../edge/node.ts", import.meta.url).href)});
const { parseConfig } = await import(${JSON.stringify(new URL("../../shared/config/load.ts", import.meta.url).href)});
const { simulatedConfigYaml } = await import(${JSON.stringify(new URL("../../cli/dev-config.ts", import.meta.url).href)});
const [simulatorUrl, databaseUrl, masterKey] = process.argv.slice(1);
const gateway = await startNodeGateway({
  config: parseConfig(simulatedConfigYaml(simulatorUrl)),
  env: { GODOTZ_MASTER_KEY: masterKey, GODOTZ_SIMULATOR_KEY: "simulated" },
  databaseUrl, port: 0, log: () => {},
});
console.log(gateway.url);
process.once("SIGTERM", () => gateway.close().then(() => process.exit(0)));
`;

let stack: Stack;
let child: ChildProcess;
let otherUrl: string;

before(async () => {
  stack = await startStack();
  child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", secondGateway, stack.simulator.url, stack.databaseUrl, MASTER_KEY], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  otherUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", (code) => reject(new Error(`second gateway exited (${code})`)));
  });
});

after(async () => {
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", () => resolve()), child.kill("SIGTERM"))));
  await stack.close();
});

const chat = (gatewayUrl: string, key: string) =>
  fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "glm-5.1", messages: [{ role: "user", content: "hello" }] }),
  });

test("a key revoked through one gateway process is refused by another as soon as Postgres tells it, and stays refused", async () => {
  const created = (await (await stack.admin("POST", "/keys", { name: "two-processes" })).json()) as { id: string; key: string };
  // Twice, so the second process answers the second time from its cache.
  assert.equal((await chat(otherUrl, created.key)).status, 200);
  assert.equal((await chat(otherUrl, created.key)).status, 200);

  assert.equal((await stack.admin("DELETE", `/keys/${created.id}`)).status, 200);

  // The process that revoked the key refuses it on the very next request.
  assert.equal((await chat(stack.gateway.url, created.key)).status, 401);

  // The other process learns of it from Postgres' notification, which each listening backend
  // delivers on its own schedule: on a loaded machine that can trail the DELETE's answer by a
  // few milliseconds. So it must be refused within a bounded wait, and stay refused after.
  const deadline = Date.now() + 5_000;
  let refused = await chat(otherUrl, created.key);
  while (refused.status === 200 && Date.now() < deadline) {
    await refused.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 10));
    refused = await chat(otherUrl, created.key);
  }
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "invalid_api_key");
  for (let i = 0; i < 5; i++) assert.equal((await chat(otherUrl, created.key)).status, 401);
});
