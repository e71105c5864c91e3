import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parseConfig, ConfigError } from "../../shared/config/load.ts";
import { resolveRef, MissingSecretError } from "../../shared/config/secrets.ts";

const example = await readFile(new URL("../../godotz.example.yaml", import.meta.url), "utf8");

function issuesOf(text: string) {
  try {
    parseConfig(text, "g.yaml");
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error.issues;
  }
  assert.fail("expected the configuration to be refused");
}

test("the shipped example validates, with defaults filled in", () => {
  const config = parseConfig(example);
  assert.equal(config.models["glm-5.1"]?.max_concurrency, 10);
  assert.equal(config.models["gemini-3.1-pro-low"]?.vision, true);
  assert.equal(config.models["glm-4.7"]?.vision, false);
  assert.deepEqual(config.routing.fallbacks["glm-5.1"], ["glm-4.7"]);
  assert.equal(config.cache.ttl_seconds, 3600);
  assert.equal(config.hardcore, false);
});

test("the issue's minimal configuration validates as written", () => {
  const text = `gateway:
  master_key: env:GODOTZ_MASTER_KEY
providers:
  zai:       { kind: openai, base_url: https://api.z.ai/api/paas/v4, api_key: env:ZAI_API_KEY }
  google:    { kind: gemini, api_key: env:GEMINI_API_KEY }
  anthropic: { kind: anthropic, api_key: env:ANTHROPIC_API_KEY }
models:
  glm-5.1:            { provider: zai, family: glm, price: { input: 1.0, output: 3.2 }, max_concurrency: 10 }
  glm-4.7:            { provider: zai, family: glm, price: { input: 0.6, output: 2.2 }, max_concurrency: 2 }
  gemini-3.1-pro-low: { provider: google, family: gemini, vision: true, price: { input: 1.25, output: 5.0 } }
routing:
  fallbacks: { glm-5.1: [glm-4.7] }
  vision_fallback: gemini-3.1-pro-low
cache: { ttl_seconds: 3600 }
hardcore: false
`;
  assert.equal(Object.keys(parseConfig(text).models).length, 3);
});

test("a literal API key is refused, naming the field and its line", () => {
  const text = example.replace("api_key: env:ZAI_API_KEY", `api_key: ${"sk-" + "abcdefghij".repeat(3)}`);
  const [issue] = issuesOf(text);
  assert.equal(issue?.path, "providers.zai.api_key");
  assert.match(issue!.message, /literal API key/);
  const line = text.split("\n").findIndex((l) => l.includes("sk-abcdefghij")) + 1;
  assert.equal(issue?.line, line);
});

test("a secret that is neither a reference nor key-shaped is still refused", () => {
  const [issue] = issuesOf(example.replace("master_key: env:GODOTZ_MASTER_KEY", "master_key: hunter2"));
  assert.equal(issue?.path, "gateway.master_key");
  assert.match(issue!.message, /secret reference/);
});

test("wrong types and unknown fields are each reported with a line", () => {
  const text = example
    .replace("price: { input: 0.6, output: 2.2 }", 'price: { input: "cheap", output: 2.2 }')
    .replace("hardcore: false", "hardcore: false\nhardcor: true");
  const issues = issuesOf(text);
  const byPath = new Map(issues.map((i) => [i.path, i]));
  assert.ok(byPath.get("models.glm-4.7.price.input")?.line, JSON.stringify(issues));
  assert.ok(byPath.get("hardcor")?.line, JSON.stringify(issues));
  assert.equal(byPath.get("hardcor")?.line, text.split("\n").findIndex((l) => l.startsWith("hardcor:")) + 1);
});

test("a fallback to an unknown model is refused at its place in the chain", () => {
  const text = example.replace("fallbacks: { glm-5.1: [glm-4.7] }", "fallbacks: { glm-5.1: [glm-9] }");
  const [issue] = issuesOf(text);
  assert.equal(issue?.path, "routing.fallbacks.glm-5.1.0");
  assert.match(issue!.message, /unknown model "glm-9"/);
  assert.equal(issue?.line, text.split("\n").findIndex((l) => l.includes("glm-9")) + 1);
});

test("a model on an unknown provider is refused", () => {
  const issues = issuesOf(example.replace("glm-4.7:            { provider: zai", "glm-4.7:            { provider: nowhere"));
  assert.match(issues.map((i) => i.message).join("\n"), /unknown provider "nowhere"/);
});

test("YAML syntax errors give a line and column", () => {
  const issues = issuesOf("gateway:\n  master_key: [unclosed\nproviders: {}\n");
  assert.ok(issues[0]?.line && issues[0].line >= 2);
});

test("base_url accepts an env reference; bad URLs are refused", () => {
  const ok = parseConfig(example.replace("base_url: https://api.z.ai/api/paas/v4", "base_url: env:ZAI_BASE_URL"));
  assert.equal(ok.providers.zai?.base_url, "env:ZAI_BASE_URL");
  const [issue] = issuesOf(example.replace("base_url: https://api.z.ai/api/paas/v4", "base_url: ftp//nope"));
  assert.equal(issue?.path, "providers.zai.base_url");
});

test("secret references resolve from the environment and name the variable when unset", () => {
  assert.equal(resolveRef("env:A_KEY", { A_KEY: "v" }, "x"), "v");
  assert.throws(() => resolveRef("env:NOPE", {}, "providers.zai.api_key"), (e: unknown) => e instanceof MissingSecretError && /NOPE/.test(e.message) && /providers\.zai\.api_key/.test(e.message));
});

test("routing.roles: a role names a chat family; roles and families may not be spelled like a model", () => {
  assert.deepEqual(parseConfig(example).routing.roles, { coder: "glm", critic: "claude" });
  const withRoles = (roles: string) => example.replace("roles: { coder: glm, critic: claude }", `roles: ${roles}`);

  const unknown = withRoles("{ coder: mistral }");
  const [issue] = issuesOf(unknown);
  assert.equal(issue?.path, "routing.roles.coder");
  assert.match(issue!.message, /role "coder" routes to family "mistral", which no chat model has \(chat families: glm, gemini, claude\)/);
  assert.equal(issue?.line, unknown.split("\n").findIndex((l) => l.includes("mistral")) + 1);

  const [embedding] = issuesOf(withRoles("{ finder: gemini-embedding }"));
  assert.equal(embedding?.path, "routing.roles.finder");
  assert.match(embedding!.message, /no chat model has/);

  const [shadowed] = issuesOf(withRoles("{ glm-4.7: claude }"));
  assert.equal(shadowed?.path, "routing.roles.glm-4.7");
  assert.match(shadowed!.message, /role "glm-4.7" has the name of a model; a request for "glm-4.7" would be ambiguous/);

  const [family] = issuesOf(example.replace("family: gemini, vision: true", "family: glm-5.1, vision: true"));
  assert.equal(family?.path, "models.gemini-3.1-pro-low.family");
  assert.match(family!.message, /family "glm-5.1" has the name of a model/);

  for (const bad of ["{ '': glm }", "{ coder: '' }", "[glm]"]) assert.ok(issuesOf(withRoles(bad)).length > 0, bad);
});
