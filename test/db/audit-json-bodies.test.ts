import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { MIGRATIONS_DIR, migrate } from "../../shared/db/migrate.ts";
import { insertAudit } from "../../edge/audit/postgres-sink.ts";
import type { AuditRecord } from "../../edge/audit/record.ts";
import { freshDatabase } from "../helpers/db.ts";

// An audit kept before migrations/0015 (bodies jsonb) must read back the same after it (json).
const BODIES_AS_JSON = "0015_audit_json_bodies.sql";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
let before15: string;

before(async () => {
  db = await freshDatabase();
  sql = openDatabase(db.url, { max: 1 });
  before15 = await mkdtemp(path.join(os.tmpdir(), "godotz-migrations-"));
  for (const file of await readdir(MIGRATIONS_DIR)) {
    if (file.endsWith(".sql") && file < BODIES_AS_JSON) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(before15, file));
  }
});

after(async () => {
  await sql.end();
  await db.drop();
  await rm(before15, { recursive: true, force: true });
});

function row(id: string, request: unknown, response: unknown): AuditRecord {
  return {
    id, created_at: new Date("2026-11-01T12:00:00Z"), key_id: "key_1", swarm: "s", agent: "a", task: "t",
    endpoint: "/v1/chat/completions", model_requested: "glm-5.1", model_used: "glm-4.7", provider: "zai", stream: false,
    status: 200, error_code: null, error_message: null, cache: "miss", prompt_tokens: 3, completion_tokens: 4,
    cost_usd: 0.25, latency_ms: 12, first_byte_ms: null, request_body: request, response_body: response, response_text: "ok",
  };
}

const columnTypes = async () =>
  Object.fromEntries(
    (await sql<{ column_name: string; data_type: string }[]>`
      SELECT column_name, data_type FROM information_schema.columns
      WHERE table_name = 'audit_log' AND column_name IN ('request_body', 'response_body')`).map((c) => [c.column_name, c.data_type]),
  );

test("bodies written as jsonb before migration 0015 read back unchanged as json after it, and new rows keep their key order", async () => {
  await migrate(sql, before15);
  assert.deepEqual(await columnTypes(), { request_body: "jsonb", response_body: "jsonb" });
  const request = { model: "glm-5.1", messages: [{ role: "user", content: "ünïcode \"quoted\" \\ and\nnewline" }], temperature: 0.7, tools: [] };
  const response = { id: "chatcmpl-1", choices: [{ index: 0, message: { role: "assistant", content: "ok" } }], usage: { prompt_tokens: 3, completion_tokens: 4 } };
  await insertAudit(sql, [row("before", request, response), row("empty", null, null)]);

  assert.deepEqual(await migrate(sql), [BODIES_AS_JSON]);
  assert.deepEqual(await columnTypes(), { request_body: "json", response_body: "json" });
  const kept = await sql<{ id: string; request_body: unknown; response_body: unknown; cost_usd: string }[]>`
    SELECT id, request_body, response_body, cost_usd FROM audit_log ORDER BY id`;
  assert.deepEqual(kept.map((r) => [r.id, r.request_body, r.response_body, Number(r.cost_usd)]), [
    ["before", request, response, 0.25],
    ["empty", null, null, 0.25],
  ]);
  // The json operators read the converted rows as they read jsonb.
  const [content] = await sql<{ c: string }[]>`SELECT request_body->'messages'->0->>'content' AS c FROM audit_log WHERE id = 'before'`;
  assert.equal(content!.c, request.messages[0]!.content);

  // A row written after keeps the order its keys were recorded in (jsonb would sort them by length, then bytes).
  const ordered = { zeta: 1, a: 2, messages: [{ role: "user", content: "x" }] };
  await insertAudit(sql, [row("after", ordered, null)]);
  const [text] = await sql<{ t: string }[]>`SELECT request_body::text AS t FROM audit_log WHERE id = 'after'`;
  assert.equal(text!.t, JSON.stringify(ordered));
});
