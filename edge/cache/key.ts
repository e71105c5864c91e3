import type { ChatCompletionRequest } from "../chat/schema.ts";

/**
 * The cache key of a chat request: SHA-256 (Web Crypto, so the same code runs on a Worker) of a
 * canonical JSON of everything that can change the answer.
 *
 * Every top-level field is in the key except the few below that only change how the answer is
 * delivered or who asked. A denylist rather than a list of known fields: the request schema keeps
 * unknown fields and sends them upstream (reasoning_effort, modalities, prediction, …), and any of
 * them may change the answer, so an unknown field must split the key rather than share it.
 */
const DELIVERY_ONLY_FIELDS = new Set(["stream", "stream_options", "user", "metadata"]);

/**
 * `scope` partitions the cache. The gateway should pass the virtual key's id: an answer is then
 * only ever served to the key whose request produced it. Sharing across keys would save more
 * calls but leaks between tenants: a hit tells one key that another sent the exact same prompt,
 * and serves it an answer that may carry the other tenant's data (from its system prompt, tool
 * results or earlier turns). A global scope is a deliberate opt-in, never the default.
 */
export async function cacheKey(req: ChatCompletionRequest, scope: string): Promise<string> {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(req)) {
    // null means "provider default" in OpenAI's API, the same as leaving the field out.
    if (DELIVERY_ONLY_FIELDS.has(name) || value === null || value === undefined) continue;
    fields[name] = value;
  }
  const text = canonicalJson({ v: 1, scope, request: fields });
  if (nodeHash) return nodeHash("sha256").update(text).digest("hex");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(new Uint8Array(digest));
}

/*
 * Where node:crypto is at hand (Node 20.16+, and a Worker with nodejs_compat), hash in place:
 * Web Crypto's digest is a job on libuv's thread pool with a promise around it, which was the
 * largest item of the governed gateway's own CPU profile after the sockets. The same SHA-256, so
 * the same key. Looked up at run time, so no bundle has to resolve a static node: import.
 */
type HashFactory = (algorithm: string) => { update(text: string): { digest(encoding: "hex"): string } };
const nodeHash: HashFactory | undefined = (() => {
  try {
    const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => { createHash?: HashFactory } | undefined } }).process?.getBuiltinModule;
    return get?.("node:crypto")?.createHash;
  } catch {
    return undefined;
  }
})();

/** JSON with object keys sorted at every depth, so key order in the request does not matter. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
