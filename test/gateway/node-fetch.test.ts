// nodeFetch, the Node entry's upstream client: a WHATWG Response over node:http, whose
// buffered bodies read like any Response's (once, as text, JSON, bytes or a stream).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { nodeFetch } from "../../edge/upstream/node-fetch.ts";

const server = http.createServer((req, res) => {
  if (req.url === "/fail") return void res.writeHead(503, { "content-type": "application/json", "retry-after": "2" }).end('{"error":{"message":"busy"}}');
  if (req.url === "/empty") return void res.writeHead(204).end();
  let body = "";
  req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
  req.on("end", () => res.writeHead(200, { "content-type": "application/json", "x-echo": req.headers["x-echo"] ?? "" }).end(JSON.stringify({ got: body })));
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const fetchFn = nodeFetch();
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = (path: string) => fetchFn(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", "x-echo": "hi" }, body: '{"a":1}' });

test("an answer reads once, as JSON, with its status and headers", async () => {
  const response = await post("/");
  assert.ok(response instanceof Response);
  assert.equal(response.status, 200);
  assert.equal(response.ok, true);
  assert.equal(response.headers.get("x-echo"), "hi");
  assert.equal(response.bodyUsed, false);
  assert.deepEqual(await response.json(), { got: '{"a":1}' });
  assert.equal(response.bodyUsed, true);
  await assert.rejects(response.text(), TypeError);
});

test("an answer reads as text, bytes, or a stream", async () => {
  assert.equal(await (await post("/")).text(), '{"got":"{\\"a\\":1}"}');
  assert.equal(new TextDecoder().decode(await (await post("/")).arrayBuffer()), '{"got":"{\\"a\\":1}"}');
  const streamed = await post("/");
  assert.equal(await new Response(streamed.body).text(), '{"got":"{\\"a\\":1}"}');
  assert.equal(streamed.bodyUsed, true);
  await assert.rejects(streamed.json(), TypeError);
});

test("an error answer keeps its status, headers and body; a 204 has no body", async () => {
  const failed = await post("/fail");
  assert.equal(failed.status, 503);
  assert.equal(failed.ok, false);
  assert.equal(failed.headers.get("retry-after"), "2");
  assert.equal(await failed.text(), '{"error":{"message":"busy"}}');
  const empty = await post("/empty");
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
  assert.equal(await empty.text(), "");
});

test("an aborted call rejects with the signal's reason", async () => {
  const controller = new AbortController();
  const reason = new Error("client disconnected");
  controller.abort(reason);
  await assert.rejects(fetchFn(`${base}/`, { method: "POST", body: "{}", headers: {}, signal: controller.signal }), (error) => error === reason);
});
