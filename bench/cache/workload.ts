import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { CachedAnswer } from "../../edge/cache/store.ts";

/** A small seeded PRNG (mulberry32), so every run replays the same workload shape for a seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Workload {
  /** Prompt number per request, in order. */
  sequence: number[];
  distinct: number;
  repeats: number;
}

/**
 * `distinct` prompts once each plus `repeats` requests for prompts already seen, interleaved at
 * random: at every step a first occurrence or a repeat, in proportion to how many of each are
 * left, a repeat choosing uniformly among the prompts seen so far. Each repeat thus follows its
 * first occurrence, so a perfect cache hits exactly `repeats` times: the theoretical maximum.
 */
export function repeatedPromptWorkload(distinct: number, repeats: number, rand: () => number): Workload {
  const sequence: number[] = [];
  let firsts = 0;
  let repeated = 0;
  while (firsts < distinct || repeated < repeats) {
    const firstsLeft = distinct - firsts;
    const repeatsLeft = repeats - repeated;
    const takeFirst = firsts === 0 || rand() * (firstsLeft + repeatsLeft) < firstsLeft;
    if (takeFirst && firstsLeft > 0) sequence.push(firsts++);
    else {
      sequence.push(Math.floor(rand() * firsts));
      repeated++;
    }
  }
  return { sequence, distinct, repeats };
}

/** Request number `i`: prompt `prompt`, at temperature 0; every other request streamed (stream is not in the key). */
export function benchRequest(prompt: number, i: number): ChatCompletionRequest {
  return {
    model: "glm-5.1",
    messages: [
      { role: "system", content: "You are a careful assistant for the godotz cache benchmark. Answer in two sentences." },
      { role: "user", content: `Question ${prompt}: summarise what a response cache in an LLM gateway is for, with example ${prompt * 7919}.` },
    ],
    temperature: 0,
    max_tokens: 256,
    stream: i % 2 === 1,
    ...(i % 4 === 1 ? { stream_options: { include_usage: true } } : {}),
  };
}

/** What the upstream would have answered: about 1 KB of text, the size of a short real answer. */
export function upstreamAnswer(prompt: number): CachedAnswer {
  return {
    id: `chatcmpl-upstream-${prompt}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: "glm-5.1",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: `Answer ${prompt}. `.concat("A response cache answers a repeated deterministic request without calling the model again. ".repeat(12)) },
        finish_reason: "stop",
      },
    ],
    usage: { prompt_tokens: 48, completion_tokens: 220, total_tokens: 268 },
    cached_at: Date.now(),
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const median = (values: number[]) => percentile(values, 50);
