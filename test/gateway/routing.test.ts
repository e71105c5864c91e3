import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startStack, type Stack } from "../helpers/stack.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";

const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const withImages = (n: number) => [{ role: "user" as const, content: [{ type: "text" as const, text: "describe" }, ...Array.from({ length: n }, () => ({ type: "image_url" as const, image_url: { url: PNG } }))] }];

let stack: Stack;
let hardcore: Stack;
before(async () => {
  stack = await startStack();
  hardcore = await startStack({ configYaml: (url) => simulatedConfigYaml(url).replace("hardcore: false", "hardcore: true") });
});
after(async () => {
  await stack.close();
  await hardcore.close();
});

test("images sent to a model without vision go to the vision fallback, all of them, and the header says so", async () => {
  const { data, response } = await stack.client.chat.completions.create({ model: "glm-5.1", messages: withImages(2) }).withResponse();
  assert.equal(response.headers.get("x-godotz-model"), "gemini-3.1-pro-low");
  assert.match(data.choices[0]!.message.content ?? "", /2 images/);
  const call = stack.simulator.calls().at(-1)!;
  assert.deepEqual([call.provider, call.model], ["gemini", "gemini-3.1-pro-low"]);
  const row = (await stack.auditRows()).find((r) => r.model_used === "gemini-3.1-pro-low" && r.model_requested === "glm-5.1");
  assert.ok(row, "audit keeps the model asked for and the one that answered");
});

test("a streamed image request is rerouted too", async () => {
  const stream = await stack.client.chat.completions.create({ model: "glm-4.7", messages: withImages(1), stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.match(text, /1 image/);
});

test("a vision model keeps its own images", async () => {
  const { response } = await stack.client.chat.completions.create({ model: "claude-sonnet-4.5", messages: withImages(1) }).withResponse();
  assert.equal(response.headers.get("x-godotz-model"), "claude-sonnet-4.5");
});

test("hardcore: no vision rerouting (400), no model fallback (the primary's failure is the answer)", async () => {
  await assert.rejects(hardcore.client.chat.completions.create({ model: "glm-5.1", messages: withImages(1) }), (e: unknown) => e instanceof OpenAI.BadRequestError && (e as InstanceType<typeof OpenAI.APIError>).code === "model_lacks_vision");
  hardcore.simulator.script("glm-5.1", { failStatus: 503 });
  try {
    await assert.rejects(hardcore.client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "no fallback" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503);
    assert.ok(!hardcore.simulator.calls().some((c) => c.model === "glm-4.7"), "the fallback was never called");
  } finally {
    hardcore.simulator.reset();
  }
});
