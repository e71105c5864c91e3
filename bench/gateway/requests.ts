// The request every load sends, shared by the in-process loads and the open-loop child process.

export const REQUEST_BODY = JSON.stringify({
  model: "glm-5.1",
  messages: [{ role: "user", content: "Say hello to the benchmark." }],
});

/**
 * "fixed": REQUEST_BODY every time. "unique" (the governed target): the same request at
 * temperature 0 (so the cache looks it up), made unique by a counter so that every request is a
 * miss that is then written to the cache.
 */
export type BodyKind = "fixed" | "unique";

export function requestBodies(kind: BodyKind): () => string {
  if (kind === "fixed") return () => REQUEST_BODY;
  const run = crypto.randomUUID().slice(0, 8);
  let n = 0;
  return () => JSON.stringify({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content: `Say hello to the benchmark. (${run}-${n++})` }] });
}
