import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { swarmDeployCommand } from "../../cli/swarm-deploy.ts";
import { CliError } from "../../cli/errors.ts";
import { loadSwarmFile } from "../../workers/swarm/spec/load.ts";
import { catalogueFromConfig } from "../../workers/swarm/spec/validate.ts";
import { parseConfig } from "../../shared/config/load.ts";

// `godotz swarm deploy` in-process (the command object the CLI attaches), against a fresh database.

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const hookedFile = join(FIXTURES, "hooked.yaml");
const quietFile = join(FIXTURES, "quiet.yaml");
const brokenFile = join(FIXTURES, "broken.yaml");

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let home: string;
let configFile: string;
const saved = { DATABASE_URL: process.env.DATABASE_URL, GODOTZ_HOME: process.env.GODOTZ_HOME, GODOTZ_URL: process.env.GODOTZ_URL };

before(async () => {
  db = await freshDatabase("godotz_swarm_deploy");
  sql = openDatabase(db.url, { max: 2 });
  home = await mkdtemp(join(tmpdir(), "godotz-deploy-"));
  configFile = join(home, "godotz.yaml");
  await writeFile(configFile, simulatedConfigYaml("http://127.0.0.1:9"));
  process.env.DATABASE_URL = db.url;
  process.env.GODOTZ_HOME = home; // no dev.json there: no gateway URL unless given
  delete process.env.GODOTZ_URL;
});
after(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await sql?.end();
  await db?.drop();
  if (home) await rm(home, { recursive: true, force: true });
});

/** Runs `deploy ARGS` and returns what it printed on stdout. */
async function deploy(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => void lines.push(parts.join(" "));
  try {
    await swarmDeployCommand().exitOverride().parseAsync([...args, "-c", configFile], { from: "user" });
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

const rows = () => sql<{ name: string; version: string; spec: unknown; source: string; deployed_at: Date }[]>`SELECT * FROM swarms ORDER BY name`;

test("deploy registers each loaded swarm and prints its webhook address (--json)", async () => {
  const out = JSON.parse(await deploy(hookedFile, quietFile, "--json", "--url", "https://gw.example.com/")) as Record<string, unknown>[];
  assert.deepEqual(out.map((d) => ({ ...d, deployed_at: undefined })), [
    { name: "hooked", version: "2", file: resolve(hookedFile), created: true, deployed_at: undefined, webhook: { url: "https://gw.example.com/hooks/hooked", secrets: ["env:HOOKED_SECRET"] } },
    { name: "quiet", version: "1", file: resolve(quietFile), created: true, deployed_at: undefined, webhook: null },
  ]);
  const stored = await rows();
  assert.deepEqual(stored.map((r) => [r.name, r.version, r.source]), [["hooked", "2", resolve(hookedFile)], ["quiet", "1", resolve(quietFile)]]);
  const loaded = await loadSwarmFile(hookedFile, { catalogue: catalogueFromConfig(parseConfig(simulatedConfigYaml("http://127.0.0.1:9"), "t")) });
  assert.deepEqual(stored[0]!.spec, JSON.parse(JSON.stringify(loaded)), "the row is the loaded swarm, self-contained");
});

test("deploying again updates in place; without a known gateway URL the path is printed", async () => {
  const [before] = await rows();
  const out = await deploy(hookedFile);
  assert.match(out, /^updated hooked version 2 \(.*hooked\.yaml\)\n {2}webhook: POST \/hooks\/hooked {2}\(signed with env:HOOKED_SECRET; see docs\/webhooks\.md\)$/);
  const [after] = await rows();
  assert.ok(after!.deployed_at > before!.deployed_at);
  assert.equal((await rows()).length, 2);
});

test("an invalid file, a duplicate name or a bad URL deploys nothing", async () => {
  const before = await rows();
  await assert.rejects(deploy(quietFile, brokenFile), (error: unknown) => {
    assert.ok(error instanceof CliError);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /^nothing deployed:\ninvalid swarm .*broken\.yaml:\n.*broken\.yaml:\d+:\d+/);
    assert.match(error.message, /nobody/);
    return true;
  });
  await assert.rejects(deploy(hookedFile, hookedFile), /nothing deployed: two of the files define swarm hooked/);
  await assert.rejects(deploy(join(FIXTURES, "missing.yaml")), /nothing deployed:\n[\s\S]*cannot read .*missing\.yaml: no such file/);
  await assert.rejects(deploy(hookedFile, "--url", "gw.example.com"), /--url must be an http\(s\) URL/);
  assert.deepEqual((await rows()).map((r) => [r.name, r.deployed_at.getTime()]), before.map((r) => [r.name, r.deployed_at.getTime()]));
});
