import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startStack, type Stack } from "../helpers/stack.ts";
import type { Sql } from "../../shared/db/connect.ts";
import { SIGNATURE_HEADER, signDelivery } from "../../edge/hooks/signature.ts";
import { EventBus, natsUrlFrom } from "../../workers/events/index.ts";
import {
  RunRequestRelay, consumeRunRequests, deploySwarms, ensureRunStream, runRequestSink,
  type ConsumeSummary, type RunRequestDelivery, type RunRequestSink,
} from "../../workers/swarm/dispatch/index.ts";
import { OwnNatsServer, loadedSwarm, testRunStream, waitFor } from "./helpers.ts";

// POST /hooks/:swarm through the Node gateway, with real Postgres and NATS: the run is recorded
// at once, relayed to a work-queue stream of this file's own, and taken by a consumer.

const SECRET = `whsec_${crypto.randomUUID()}`;
const ROTATE_OLD = `whsec_old_${crypto.randomUUID()}`;
const ROTATE_NEW = `whsec_new_${crypto.randomUUID()}`;
const env = { HOOKED_SECRET: SECRET, ROTATE_OLD, ROTATE_NEW };

const hooked = loadedSwarm("hooked", [{ webhook: { secret: "env:HOOKED_SECRET" } }]);
const rotating = loadedSwarm("rotating", [{ webhook: { secret: "env:ROTATE_OLD" } }, { webhook: { secret: "env:ROTATE_NEW" } }]);
const quiet = loadedSwarm("quiet");
const scheduled = loadedSwarm("scheduled", [{ schedule: { cron: "0 * * * * *" } }]);
const unset = loadedSwarm("unset", [{ webhook: { secret: "env:HOOK_SECRET_NOT_SET" } }]);

const stream = testRunStream("hooks");
const DURABLE = "hooks-test";
let stack: Stack;
let sql: Sql;
let bus: EventBus;
let relay: RunRequestRelay;
const received: RunRequestDelivery[] = [];
const stopConsumer = new AbortController();
let consuming: Promise<ConsumeSummary>;
const logged: string[] = [];

before(async () => {
  stack = await startStack({ env });
  sql = stack.gateway.sql;
  await deploySwarms(sql, [hooked, rotating, quiet, scheduled, unset].map((loaded) => ({ loaded, source: null })));
  bus = await EventBus.connect({ url: natsUrlFrom(), name: "godotz-hooks-test", publishTimeoutMs: 2000 });
  assert.equal(await ensureRunStream(bus.jsm, stream), "created");
  relay = new RunRequestRelay(sql, bus, { stream });
  consuming = consumeRunRequests(bus, {
    durable: DURABLE, stream, signal: stopConsumer.signal, pollMs: 1000, log: (line) => logged.push(line),
    handler: async (request) => void received.push(request),
  });
});

after(async () => {
  stopConsumer.abort();
  await consuming?.catch(() => {});
  await bus?.jsm.streams.delete(stream.name).catch(() => {});
  await bus?.close();
  await stack?.close();
});

interface Delivery {
  /** Secrets to sign with (default the hooked swarm's). */
  secrets?: string[];
  t?: number;
  /** The header as sent; null sends none. Default: signed with `secrets` at `t`. */
  header?: string | null;
  contentType?: string;
}

async function deliver(swarm: string, body: string | Uint8Array, options: Delivery = {}): Promise<Response> {
  const header = options.header !== undefined ? options.header : await signDelivery(options.secrets ?? [SECRET], body, options.t);
  return fetch(`${stack.gateway.url}/hooks/${swarm}`, {
    method: "POST",
    headers: { "content-type": options.contentType ?? "application/json", ...(header === null ? {} : { [SIGNATURE_HEADER]: header }) },
    body: body as BodyInit,
  });
}

/**
 * POSTs a body the server may answer before reading it all (413): fetch fails when the server
 * closes the connection while the body is still being sent, so this keeps the answer and ignores
 * the write error, as a sender reading the response would.
 */
function postEarlyAnswered(url: string, body: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0 })));
    });
    req.on("error", (error) => setTimeout(() => reject(error), 2000).unref());
    req.end(body);
  });
}

const now = () => Math.floor(Date.now() / 1000);
const input = (text: string) => JSON.stringify({ input: text });

async function counts() {
  const [row] = await sql<{ runs: number; requests: number; deliveries: number }[]>`SELECT
    (SELECT count(*)::int FROM swarm_runs) AS runs,
    (SELECT count(*)::int FROM swarm_run_requests) AS requests,
    (SELECT count(*)::int FROM hook_deliveries) AS deliveries`;
  return row!;
}

const pending = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM swarm_run_requests WHERE published_at IS NULL AND refused_at IS NULL`)[0]!.n;
const streamMessages = async () => (await bus.jsm.streams.info(stream.name)).state.messages;
const receivedFor = (runId: string) => received.filter((r) => r.runId === runId);

async function accepted(res: Response): Promise<string> {
  const body = (await res.json()) as { run_id: string; swarm: string; status: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  assert.equal(body.status, "queued");
  assert.match(body.run_id, /^run_[0-9a-z]{25}$/);
  return body.run_id;
}

async function refused(res: Response, status: number, code: string): Promise<string> {
  const body = (await res.json()) as { error: { message: string; type: string; code: string; param: string | null } };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  assert.equal(typeof body.error.message, "string");
  assert.equal(typeof body.error.type, "string");
  return body.error.message;
}

test("a signed delivery gets 202 with its run id at once; the run is queued, relayed, and taken exactly once", async () => {
  const res = await deliver("hooked", input("Summarise the release notes"));
  const runId = await accepted(res);

  const [run] = await sql`SELECT swarm, swarm_version, spec, input, status, trigger, engine FROM swarm_runs WHERE id = ${runId}`;
  assert.deepEqual({ ...run, spec: undefined }, {
    swarm: "hooked", swarm_version: "3", spec: undefined, input: "Summarise the release notes", status: "queued", trigger: "webhook", engine: "langgraph",
  });
  assert.deepEqual(run!.spec, JSON.parse(JSON.stringify(hooked)), "the run carries the deployed swarm as its snapshot");
  const [request] = await sql<{ payload: Record<string, string> }[]>`SELECT payload FROM swarm_run_requests WHERE run_id = ${runId}`;
  assert.deepEqual({ ...request!.payload, requested_at: undefined }, { run_id: runId, swarm: "hooked", trigger: "webhook", requested_at: undefined });
  assert.ok(!Number.isNaN(Date.parse(request!.payload.requested_at!)));
  assert.equal(await pending(), 1, "nothing is published by the edge itself");

  const report = await relay.relayOnce();
  assert.deepEqual({ published: report.published, duplicates: report.duplicates, refused: report.refused, failure: report.failure }, { published: 1, duplicates: 0, refused: [], failure: undefined });
  await waitFor("the consumer to take the request", () => receivedFor(runId).length === 1);
  await waitFor("the request to be acknowledged (gone from the work queue)", async () => (await streamMessages()) === 0);
  assert.equal((await relay.relayOnce()).published, 0);
  const [got] = receivedFor(runId);
  assert.deepEqual({ ...got, requestedAt: undefined }, { runId, swarm: "hooked", trigger: "webhook", requestedAt: undefined, deliveries: 1 });
  assert.equal(receivedFor(runId).length, 1);
});

test("every bad delivery is refused with its status and code, and records nothing", async () => {
  const body = input("do not run");
  const t = now();
  const otherBody = await signDelivery([SECRET], input("another body"), t);
  const v1 = otherBody.split(",")[1]!;
  const cases: [string, () => Promise<Response>, number, string][] = [
    ["too old", () => deliver("hooked", body, { t: t - 400 }), 401, "stale_signature"],
    ["too far in the future", () => deliver("hooked", body, { t: t + 400 }), 401, "stale_signature"],
    ["signature of another body", () => deliver("hooked", body, { header: `t=${t},${v1}` }), 401, "invalid_signature"],
    ["signature with another timestamp", () => deliver("hooked", input("another body"), { header: `t=${t + 1},${v1}` }), 401, "invalid_signature"],
    ["wrong secret", () => deliver("hooked", body, { secrets: ["not-the-secret"] }), 401, "invalid_signature"],
    ["missing header", () => deliver("hooked", body, { header: null }), 401, "missing_signature"],
    ["empty header", () => deliver("hooked", body, { header: "" }), 401, "malformed_signature"],
    ["garbage header", () => deliver("hooked", body, { header: "sha256=abc" }), 401, "malformed_signature"],
    ["no timestamp", () => deliver("hooked", body, { header: v1 }), 401, "malformed_signature"],
    ["no signature", () => deliver("hooked", body, { header: `t=${t}` }), 401, "malformed_signature"],
    ["timestamp not a number", () => deliver("hooked", body, { header: `t=soon,${v1}` }), 401, "malformed_signature"],
    ["two timestamps", () => deliver("hooked", body, { header: `t=${t},t=${t},${v1}` }), 401, "malformed_signature"],
    ["v1 not hex", () => deliver("hooked", body, { header: `t=${t},v1=${"z".repeat(64)}` }), 401, "malformed_signature"],
    ["v1 too short", () => deliver("hooked", body, { header: `t=${t},v1=abcd` }), 401, "malformed_signature"],
    ["too many v1", () => deliver("hooked", body, { header: `t=${t}${`,${v1}`.repeat(9)}` }), 401, "malformed_signature"],
    ["unknown swarm", () => deliver("nobody-here", body), 404, "webhook_not_found"],
    ["not a swarm name", () => deliver("NOT..a%20name", body), 404, "webhook_not_found"],
    ["swarm without triggers", () => deliver("quiet", body), 404, "webhook_not_found"],
    ["swarm with a schedule only", () => deliver("scheduled", body), 404, "webhook_not_found"],
    ["secret not set on the gateway", () => deliver("unset", body), 500, "webhook_misconfigured"],
    ["not JSON", () => deliver("hooked", "input=hello"), 400, "invalid_body"],
    ["not UTF-8", () => deliver("hooked", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, "invalid_body"],
    ["JSON but not an object", () => deliver("hooked", JSON.stringify(["hello"])), 400, "invalid_body"],
    ["no input", () => deliver("hooked", JSON.stringify({ text: "hello" })), 400, "invalid_body"],
    ["empty input", () => deliver("hooked", input("")), 400, "invalid_body"],
    ["input not a string", () => deliver("hooked", JSON.stringify({ input: 42 })), 400, "invalid_body"],
    ["input with NUL", () => deliver("hooked", input("a\u0000b")), 400, "invalid_body"],
    ["unknown field", () => deliver("hooked", JSON.stringify({ input: "x", priority: "high" })), 400, "invalid_body"],
    ["oversized body", () => postEarlyAnswered(`${stack.gateway.url}/hooks/hooked`, JSON.stringify({ input: "x".repeat(300 * 1024) })), 413, "request_too_large"],
  ];
  const before = await counts();
  for (const [name, send, status, code] of cases) {
    const res = await send();
    try {
      await refused(res, status, code);
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`, { cause: error });
    }
  }
  assert.deepEqual(await counts(), before, "no run, request or delivery was recorded");
  const message = await refused(await deliver("hooked", JSON.stringify({ input: 42 })), 400, "invalid_body");
  assert.match(message, /input/);
  assert.equal((await fetch(`${stack.gateway.url}/hooks/hooked`)).status, 404, "only POST");
});

test("secret rotation: any v1 may match, and a swarm may accept two secrets", async () => {
  const both = await deliver("hooked", input("rotated"), { secrets: ["the-retired-secret", SECRET] });
  await accepted(both);
  await accepted(await deliver("rotating", input("old secret"), { secrets: [ROTATE_OLD] }));
  await accepted(await deliver("rotating", input("new secret"), { secrets: [ROTATE_NEW] }));
  await refused(await deliver("rotating", input("neither"), { secrets: [SECRET] }), 401, "invalid_signature");
});

test("a replayed delivery gets 409 and records nothing; a re-signed or distinct one is a new delivery", async () => {
  const body = input("once only");
  const t = now();
  const header = await signDelivery([SECRET], body, t);
  const first = await accepted(await deliver("hooked", body, { header }));
  const before = await counts();
  const message = await refused(await deliver("hooked", body, { header }), 409, "replayed_delivery");
  assert.match(message, /already accepted/);
  assert.deepEqual(await counts(), before);

  // Signed with both secrets during a rotation: replaying either signature alone is the same delivery.
  const doubly = await signDelivery([ROTATE_OLD, ROTATE_NEW], body, t);
  await accepted(await deliver("rotating", body, { header: doubly }));
  const [, oldV1, newV1] = doubly.split(",");
  await refused(await deliver("rotating", body, { header: `t=${t},${newV1}` }), 409, "replayed_delivery");
  await refused(await deliver("rotating", body, { header: `t=${t},${oldV1}` }), 409, "replayed_delivery");

  // Signed again with another timestamp, it is a new delivery (a sender's deliberate resend).
  const again = await accepted(await deliver("hooked", body, { t: t - 1 }));
  assert.notEqual(again, first);
  // The same input twice in one second, told apart by the sender's delivery id.
  const a = await accepted(await deliver("hooked", JSON.stringify({ input: "twice", delivery_id: "evt-1" }), { t }));
  const b = await accepted(await deliver("hooked", JSON.stringify({ input: "twice", delivery_id: "evt-2" }), { t }));
  const ids = await sql<{ delivery_id: string; run_id: string }[]>`SELECT delivery_id, run_id FROM hook_deliveries WHERE delivery_id IN ('evt-1', 'evt-2') ORDER BY delivery_id`;
  assert.deepEqual([...ids], [{ delivery_id: "evt-1", run_id: a }, { delivery_id: "evt-2", run_id: b }]);
});

test("concurrent copies of one delivery: exactly one run", async () => {
  const body = input("raced");
  const header = await signDelivery([SECRET], body);
  const before = await counts();
  const answers = await Promise.all(Array.from({ length: 6 }, () => deliver("hooked", body, { header })));
  const statuses = answers.map((r) => r.status).sort();
  assert.deepEqual(statuses, [202, 409, 409, 409, 409, 409]);
  await Promise.all(answers.map((r) => r.body?.cancel()));
  const after = await counts();
  assert.equal(after.runs - before.runs, 1);
  assert.equal(after.deliveries - before.deliveries, 1);
});

test("deliveries past their window are pruned; live ones stay", async () => {
  await sql`INSERT INTO hook_deliveries (swarm, digest, signed_at, expires_at, run_id)
    VALUES ('hooked', 'expired-digest', now() - interval '20 minutes', now() - interval '15 minutes', 'run_gone')`;
  const live = (await counts()).deliveries - 1;
  await accepted(await deliver("hooked", input("prune trigger")));
  assert.equal((await sql`SELECT 1 FROM hook_deliveries WHERE digest = 'expired-digest'`).length, 0);
  assert.equal((await counts()).deliveries, live + 1);
});

test("a relay that crashes between publishing and marking republishes; the consumer still gets the run once", async () => {
  await relay.relayOnce(); // drain what earlier tests queued
  const runId = await accepted(await deliver("hooked", input("crash in the middle")));
  const sink = runRequestSink(bus, stream);
  const crashing: RunRequestSink = {
    async publish(request, msgID) {
      await sink.publish(request, msgID);
      throw new Error("crashed after publishing");
    },
  };
  const crashed = await new RunRequestRelay(sql, crashing).relayOnce();
  assert.match(crashed.failure?.message ?? "", /^publishing run request #\d+ failed: crashed after publishing$/);
  assert.equal(await pending(), 1, "the row is not marked");
  await waitFor("the consumer to take the first copy", () => receivedFor(runId).length === 1);

  const recovered = await relay.relayOnce();
  assert.equal(recovered.published, 0);
  assert.equal(recovered.duplicates, 1, "the stream dropped the republished copy by its message id");
  assert.equal(await pending(), 0);
  await waitFor("the work queue to be empty", async () => (await streamMessages()) === 0);
  assert.equal(receivedFor(runId).length, 1);
});

test("with NATS down the delivery is still accepted, and the request flows to a waiting consumer once NATS is back", async () => {
  await relay.relayOnce();
  const nats = await OwnNatsServer.start();
  const ownStream = testRunStream("down");
  const ownBus = await EventBus.connect({ url: nats.url, name: "godotz-hooks-down", publishTimeoutMs: 1000 });
  const stop = new AbortController();
  let ownConsumer: Promise<ConsumeSummary> | undefined;
  try {
    await ensureRunStream(ownBus.jsm, ownStream);
    const ownRelay = new RunRequestRelay(sql, ownBus, { stream: ownStream });
    // A worker is consuming when NATS goes away; it must ride out the outage.
    const got: RunRequestDelivery[] = [];
    ownConsumer = consumeRunRequests(ownBus, { durable: "down", stream: ownStream, signal: stop.signal, pollMs: 1000, log: () => {}, handler: async (r) => void got.push(r) });
    await waitFor("the consumer to be pulling", async () => (await ownBus.jsm.consumers.info(ownStream.name, "down").catch(() => undefined)) !== undefined);
    await nats.down();

    const runId = await accepted(await deliver("hooked", input("while NATS is away")));
    const failed = await ownRelay.relayOnce();
    assert.equal(failed.published, 0);
    assert.match(failed.failure?.message ?? "", /^publishing run request #\d+ failed: /);
    assert.equal(await pending(), 1, "the request waits in the outbox");

    await nats.up();
    const flowed = await waitFor("the relay to publish once NATS is back", async () => {
      const report = await ownRelay.relayOnce();
      return report.published === 1 ? report : undefined;
    }, 30_000);
    assert.equal(flowed.failure, undefined);
    await waitFor("the request to be consumed by the consumer that lived through the outage", () => got.length === 1, 30_000);
    assert.equal(got[0]?.runId, runId);
    assert.equal(receivedFor(runId).length, 0, "it went to the stream the relay was given, nowhere else");
  } finally {
    stop.abort();
    await ownConsumer?.catch(() => {});
    await ownBus.close();
    await nats.close();
  }
});

test("the consumer saw only well-formed requests and logged nothing", () => {
  assert.deepEqual(logged, []);
});
