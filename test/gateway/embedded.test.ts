import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import postgres from "postgres";
import { startSimulator, type Simulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { stopEmbeddedPostgres } from "../../shared/db/embedded.ts";
import { runGodotz, spawnGodotz, waitForOutput } from "../helpers/process.ts";

// The zero-setup path: no DATABASE_URL, so every godotz process shares the embedded Postgres.
let simulator: Simulator;
let dir: string;
let env: Record<string, string | undefined>;

before(async () => {
  simulator = await startSimulator();
  dir = await mkdtemp(path.join(tmpdir(), "godotz-embedded-gw-"));
  await chmod(dir, 0o755); // as root, the database runs as an unprivileged user that must reach it
  await writeFile(path.join(dir, "godotz.yaml"), simulatedConfigYaml(simulator.url));
  env = { DATABASE_URL: undefined, GODOTZ_HOME: path.join(dir, ".godotz"), GODOTZ_MASTER_KEY: "gdzm_embedded_test", GODOTZ_SIMULATOR_KEY: "simulated" };
});
after(async () => {
  await stopEmbeddedPostgres(path.join(dir, ".godotz", "postgres"));
  await simulator.close();
  await rm(dir, { recursive: true, force: true });
});

test("two gateway processes and the CLI share the embedded Postgres, and both audit into it", async () => {
  const config = path.join(dir, "godotz.yaml");
  const first = spawnGodotz(["gateway", "--config", config, "--port", "0"], env);
  const second = spawnGodotz(["gateway", "--config", config, "--port", "0"], env);
  try {
    const [, url1] = await waitForOutput(first, /godotz gateway: (http:\S+)\/v1/, 120_000);
    const [, url2] = await waitForOutput(second, /godotz gateway: (http:\S+)\/v1/, 120_000);
    const migrate = await runGodotz(["migrate"], env);
    assert.equal(migrate.code, 0, migrate.output);
    assert.match(migrate.output, /up to date/);

    const created = await runGodotz(["keys", "create", "--name", "shared", "--json"], { ...env, GODOTZ_URL: url1 });
    const { key } = JSON.parse(created.output.slice(created.output.indexOf("{"))) as { key: string };
    for (const [i, url] of [url1, url2].entries()) {
      // A key created through one process works on the other: they share the database.
      const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
      const res = await client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: `embedded ${i}` }] });
      assert.match(res.choices[0]!.message.content ?? "", new RegExp(`embedded ${i}`));
    }
  } finally {
    first.child.kill("SIGTERM");
    second.child.kill("SIGTERM");
    assert.equal(await first.exited, 0, first.output());
    assert.equal(await second.exited, 0, second.output());
  }
  const { port } = JSON.parse(await readFile(path.join(dir, ".godotz", "postgres.json"), "utf8")) as { port: number };
  const sql = postgres(`postgres://postgres@127.0.0.1:${port}/godotz`, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ response_text: string }[]>`SELECT response_text FROM audit_log WHERE status = 200 ORDER BY response_text`;
    assert.deepEqual(rows.map((r) => r.response_text.match(/embedded \d/)?.[0]), ["embedded 0", "embedded 1"]);
  } finally {
    await sql.end();
  }
});
