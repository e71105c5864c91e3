import pRetry, { AbortError } from "p-retry";
import { z } from "zod";
import { postText, type PostAnswer } from "./post.ts";

/**
 * Model calls of agents, always through the godotz gateway (OpenAI wire format) with the
 * attribution headers, so budgets, audit and spend per agent and per task hold for agents as for
 * any other caller.
 */

export interface GatewayTarget {
  /** The gateway's base URL, without /v1. */
  url: string;
  /** A virtual key. */
  key: string;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface ModelRequest {
  model: string;
  messages: ChatMessage[];
  max_tokens: number;
  tools?: ToolDefinition[];
  tool_choice?: "auto" | "none" | { type: "function"; function: { name: string } };
}

export interface Attribution {
  swarm: string;
  agent: string;
  task: string;
}

export interface ModelAnswer {
  message: ChatMessage;
  /** The model that answered (a fallback may have). */
  model: string;
  tokens: number;
  costUsd: number;
}

export interface CallOptions {
  /** Attempts in all, the first included (limits.max_attempts). */
  maxAttempts: number;
  timeoutMs: number;
  /** Told of each transient failure that will be retried. */
  onRetry?: (attempt: number, error: Error) => void | Promise<void>;
  signal?: AbortSignal;
  /** First backoff delay (doubled each time, with jitter); tests shorten it. */
  minBackoffMs?: number;
}

/** A call that failed for good: a 4xx other than 429 rate limiting, a refused budget, or every attempt used. */
export class ModelCallError extends Error {
  constructor(message: string, readonly status: number | undefined, readonly code: string | undefined) {
    super(message);
    this.name = "ModelCallError";
  }
}

const completion = z.object({
  model: z.string(),
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullable().optional(),
          tool_calls: z
            .array(z.object({ id: z.string(), type: z.literal("function").default("function"), function: z.object({ name: z.string(), arguments: z.string() }) }))
            .optional(),
        }),
      }),
    )
    .min(1),
  usage: z.object({ total_tokens: z.number() }).partial().optional(),
});

const errorBody = z.object({ error: z.object({ message: z.string(), code: z.string().nullable().optional() }) });

/** Sends one chat completion, retrying transient failures with exponential backoff and jitter. */
export async function callModel(target: GatewayTarget, request: ModelRequest, who: Attribution, options: CallOptions): Promise<ModelAnswer> {
  return pRetry(() => attempt(target, request, who, options), {
    retries: Math.max(0, options.maxAttempts - 1),
    factor: 2,
    minTimeout: options.minBackoffMs ?? 500,
    maxTimeout: 30_000,
    randomize: true,
    signal: options.signal,
    onFailedAttempt: async (error) => {
      if (error.retriesLeft > 0) await options.onRetry?.(error.attemptNumber, error);
    },
  }).catch((error: unknown) => {
    if (error instanceof ModelCallError) throw error;
    const e = error as Error;
    throw new ModelCallError(`model call failed: ${e.message}`, undefined, undefined);
  });
}

async function attempt(target: GatewayTarget, request: ModelRequest, who: Attribution, options: CallOptions): Promise<ModelAnswer> {
  const deadline = callDeadline(options.timeoutMs, options.signal);
  try {
    return await send(target, request, who, options, deadline.signal);
  } finally {
    deadline.clear();
  }
}

/**
 * An attempt's signal: the run's, and a timeout cleared as soon as the attempt ends.
 * `AbortSignal.timeout` keeps its timer for the whole timeout (two minutes by default) after the
 * call, and the timer keeps the async context it was made in: LangGraph's run tree for the node,
 * with the node's config. A run kept every step's for that long (a heap snapshot in the middle of
 * a swarm benchmark run held hundreds of them), all copied out of the young generation.
 */
function callDeadline(timeoutMs: number, outer: AbortSignal | undefined): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), timeoutMs);
  const relay = () => controller.abort(outer?.reason);
  if (outer?.aborted) relay();
  else outer?.addEventListener("abort", relay, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", relay);
    },
  };
}

async function send(target: GatewayTarget, request: ModelRequest, who: Attribution, options: CallOptions, signal: AbortSignal): Promise<ModelAnswer> {
  let response: PostAnswer;
  try {
    const headers = {
      authorization: `Bearer ${target.key}`,
      "content-type": "application/json",
      "x-godotz-swarm": who.swarm,
      "x-godotz-agent": who.agent,
      "x-godotz-task": who.task,
    };
    response = await postText(`${target.url}/v1/chat/completions`, headers, JSON.stringify(request), signal);
  } catch (error) {
    if (options.signal?.aborted) throw new AbortError(new ModelCallError("the run was stopped", undefined, "aborted"));
    const why = signal.aborted ? (signal.reason as Error) : (error as Error);
    throw new Error(`gateway unreachable or too slow: ${why.message}`); // transient
  }
  const text = response.text;
  if (response.status < 200 || response.status > 299) {
    const parsed = errorBody.safeParse(safeJson(text));
    const message = parsed.success ? parsed.data.error.message : text.slice(0, 200);
    const code = parsed.success ? (parsed.data.error.code ?? undefined) : undefined;
    const failure = new ModelCallError(`gateway answered ${response.status}: ${message}`, response.status, code);
    // 429 is transient unless it is a budget: more tries would only be refused again.
    const transient = response.status >= 500 || response.status === 408 || (response.status === 429 && code !== "budget_exceeded");
    if (!transient) throw new AbortError(failure);
    throw failure;
  }
  const parsed = completion.safeParse(safeJson(text));
  if (!parsed.success) throw new AbortError(new ModelCallError(`the gateway's answer is not a chat completion: ${parsed.error.issues[0]?.message}`, response.status, undefined));
  const choice = parsed.data.choices[0]!.message;
  return {
    message: { role: "assistant", content: choice.content ?? null, ...(choice.tool_calls?.length ? { tool_calls: choice.tool_calls as ToolCall[] } : {}) },
    model: response.header("x-godotz-model") ?? parsed.data.model,
    tokens: parsed.data.usage?.total_tokens ?? 0,
    costUsd: Number(response.header("x-godotz-cost-usd") ?? 0) || 0,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
