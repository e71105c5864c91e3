import type { CachedAnswer } from "../../edge/cache/store.ts";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export function request(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return {
    model: "glm-5.1",
    messages: [
      { role: "system", content: "You answer briefly." },
      { role: "user", content: "What is the capital of France?" },
    ],
    temperature: 0,
    ...overrides,
  };
}

export function textAnswer(content = "The capital of France is Paris. It has been the capital for a long time, with a short break in Vichy."): CachedAnswer {
  return {
    id: "chatcmpl-original",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "glm-5.1",
    system_fingerprint: "fp_test",
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, finish_reason: "stop", logprobs: null }],
    usage: { prompt_tokens: 21, completion_tokens: 24, total_tokens: 45 },
    cached_at: 1_700_000_001_000,
  };
}

export function toolAnswer(): CachedAnswer {
  return {
    id: "chatcmpl-tools",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "claude-sonnet",
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_weather_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","unit":"celsius","days":3,"note":"naïve café ☕ 🌧"}' } },
            { id: "call_time_2", type: "function", function: { name: "get_time", arguments: '{"tz":"Europe/Paris"}' } },
          ],
        },
        finish_reason: "tool_calls",
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 80, completion_tokens: 40, total_tokens: 120 },
    cached_at: 1_700_000_001_000,
  };
}
