// The request size limit: judged by content-length when the body declares it, counted as it
// streams when it does not (chunked), and the body is still readable by the handler either way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { bodySizeLimit } from "../../edge/request/limit.ts";
import { GatewayError } from "../../edge/errors.ts";

function app(limit: number) {
  const a = new Hono();
  a.post("/", bodySizeLimit(limit), async (c) => c.text(`read ${(await c.req.text()).length}`));
  a.onError((error, c) => (error instanceof GatewayError ? c.json(error.toBody(), error.status as 413) : c.text("unexpected", 500)));
  return a;
}

/** A request whose body arrives as a stream of unknown length, as a chunked upload does. */
function chunked(text: string): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < text.length; i += 10) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 10)));
      controller.close();
    },
  });
  return new Request("http://gateway/", { method: "POST", body, duplex: "half" } as RequestInit);
}

test("a declared length over the limit is a 413 without reading the body", async () => {
  const response = await app(16).request("/", { method: "POST", body: "x".repeat(17), headers: { "content-length": "17" } });
  assert.equal(response.status, 413);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, "request_too_large");
});

test("a declared length within the limit reaches the handler with its body", async () => {
  const response = await app(16).request("/", { method: "POST", body: "x".repeat(16), headers: { "content-length": "16" } });
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "read 16");
});

test("a body of unknown length is counted as it streams", async () => {
  const over = await app(16).fetch(chunked("y".repeat(40)));
  assert.equal(over.status, 413);
  const within = await app(64).fetch(chunked("y".repeat(40)));
  assert.equal(within.status, 200);
  assert.equal(await within.text(), "read 40");
});
