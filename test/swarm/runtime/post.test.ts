import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { after, test } from "node:test";
import { callModel, ModelCallError } from "../../../workers/swarm/runtime/gateway.ts";
import { postText } from "../../../workers/swarm/runtime/post.ts";

// The model call's HTTP client against servers on loopback that misbehave on purpose.

const servers: net.Server[] = [];
after(async () => {
  http.globalAgent.destroy(); // its kept-alive sockets
  for (const s of servers) s.close();
  for (const s of servers) (s as http.Server).closeAllConnections?.();
});

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const completion = { model: "m", choices: [{ message: { content: "héllo ✓" } }], usage: { total_tokens: 7 } };
const who = { swarm: "s", agent: "a", task: "t" };
const request = { model: "m", max_tokens: 10, messages: [{ role: "user" as const, content: "hi" }] };

test("postText sends the body with its length and reads status, headers and a UTF-8 body split across chunks", async () => {
  let seen: { headers: http.IncomingHttpHeaders; body: string } | undefined;
  const url = await listen(
    http.createServer(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      seen = { headers: req.headers, body };
      const bytes = Buffer.from(JSON.stringify(completion));
      const cut = bytes.indexOf(Buffer.from("✓")) + 1; // inside the three bytes of ✓
      res.writeHead(201, { "x-godotz-model": "served", "content-length": bytes.length });
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 5);
    }),
  );
  const answer = await postText(`${url}/v1/chat/completions`, { "x-test": "1" }, "{\"ü\":1}", new AbortController().signal);
  assert.equal(answer.status, 201);
  assert.equal(answer.header("x-godotz-model"), "served");
  assert.equal(answer.header("x-absent"), null);
  assert.deepEqual(JSON.parse(answer.text), completion);
  assert.equal(seen?.body, "{\"ü\":1}");
  assert.equal(seen?.headers["content-length"], String(Buffer.byteLength("{\"ü\":1}")));
  assert.equal(seen?.headers["x-test"], "1");
});

test("postText rejects an answer cut off before its end, a refused connection, an aborted call and a non-HTTP URL", async () => {
  const url = await listen(
    http.createServer((_req, res) => {
      res.writeHead(200, { "content-length": 100 });
      res.write("{\"partial\":");
      setTimeout(() => res.destroy(), 5);
    }),
  );
  await assert.rejects(postText(`${url}/x`, {}, "", new AbortController().signal));

  const closed = net.createServer();
  const refused = await listen(closed);
  closed.close();
  await assert.rejects(postText(`${refused}/x`, {}, "", new AbortController().signal), /ECONNREFUSED/);

  const slow = await listen(http.createServer(() => {})); // never answers
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(postText(`${slow}/x`, {}, "", controller.signal), { name: "AbortError" });

  await assert.rejects(postText("ftp://127.0.0.1/x", {}, "", new AbortController().signal), /cannot POST to ftp: URLs/);
});

test("postText sends again, once, when a kept-alive socket turns out closed before any answer", async () => {
  // Answers the first request of each connection and resets the connection on the next one, as a
  // server that timed the idle socket out does.
  let connections = 0;
  const url = await listen(
    net.createServer((socket) => {
      connections++;
      let served = false;
      socket.on("data", () => {
        if (served) return void socket.resetAndDestroy();
        served = true;
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
      });
      socket.on("error", () => {});
    }),
  );
  const signal = new AbortController().signal;
  assert.equal((await postText(`${url}/x`, {}, "1", signal)).text, "ok");
  assert.equal((await postText(`${url}/x`, {}, "2", signal)).text, "ok"); // the reused socket is reset; a new one answers
  assert.equal(connections, 2);
});

test("callModel: a call that takes longer than its timeout fails as too slow, and leaves no timer behind", async () => {
  const url = await listen(http.createServer(() => {}));
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  await assert.rejects(callModel({ url, key: "k" }, request, who, { maxAttempts: 1, timeoutMs: 30 }), (error: unknown) => {
    assert.ok(error instanceof ModelCallError);
    assert.match(error.message, /gateway unreachable or too slow: The operation was aborted due to timeout/);
    return true;
  });
  assert.equal(timers(), before);
});

test("callModel: an answer in time reads the model and cost headers, and its timeout timer is cleared", async () => {
  const url = await listen(
    http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-godotz-model": "fallback", "x-godotz-cost-usd": "0.25" });
      res.end(JSON.stringify(completion));
    }),
  );
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const answer = await callModel({ url, key: "k" }, request, who, { maxAttempts: 1, timeoutMs: 60_000 });
  assert.deepEqual(answer, { message: { role: "assistant", content: "héllo ✓" }, model: "fallback", tokens: 7, costUsd: 0.25 });
  assert.equal(timers(), before);
});

test("callModel: the run's signal stops a call in flight, without retrying", async () => {
  let requests = 0;
  const url = await listen(http.createServer(() => void requests++));
  const run = new AbortController();
  setTimeout(() => run.abort(), 20);
  await assert.rejects(callModel({ url, key: "k" }, request, who, { maxAttempts: 3, timeoutMs: 60_000, signal: run.signal, minBackoffMs: 1 }), (error: unknown) => {
    assert.ok(error instanceof ModelCallError);
    assert.match(error.message, /aborted/);
    return true;
  });
  assert.equal(requests, 1);
});
