import type { ChatCompletionRequest } from "../chat/schema.ts";
import type { ModelConfig } from "../../shared/config/schema.ts";
import { costUsd } from "../pricing/cost.ts";

/**
 * Upper bounds, not guesses: a budget hold must never be smaller than what the call can cost.
 * - Prompt: one token is at least one UTF-8 byte for every tokenizer the providers use, so the
 *   byte length of the text bounds the token count; each message adds a few framing tokens.
 * - Images: providers bill an image by its size, not by its base64 length; the most any of them
 *   charges for one image is under 6,500 tokens (a full-size image in tiles), so that is the bound.
 * - Output: max_completion_tokens / max_tokens, else the model's output limit.
 */
const PER_MESSAGE_TOKENS = 16;
const PER_IMAGE_TOKENS = 6_500;

export function promptTokenBound(req: Pick<ChatCompletionRequest, "messages" | "tools">): number {
  let bytes = 0;
  let images = 0;
  const encoder = new TextEncoder();
  const add = (text: string) => (bytes += encoder.encode(text).length);
  for (const message of req.messages) {
    const { content, ...rest } = message as { content?: unknown };
    add(JSON.stringify(rest));
    if (typeof content === "string") add(content);
    else if (Array.isArray(content)) {
      for (const part of content as { type: string; text?: string }[]) {
        if (part.type === "image_url") images++;
        else add(part.type === "text" ? (part.text ?? "") : JSON.stringify(part));
      }
    }
  }
  if (req.tools) add(JSON.stringify(req.tools));
  return bytes + req.messages.length * PER_MESSAGE_TOKENS + images * PER_IMAGE_TOKENS;
}

export function outputTokenBound(req: Pick<ChatCompletionRequest, "max_tokens" | "max_completion_tokens">, model: ModelConfig): number {
  return req.max_completion_tokens ?? req.max_tokens ?? model.max_output_tokens;
}

/** The most this request can cost on any of the models it may end up on. */
export function worstCaseCost(req: ChatCompletionRequest, models: ModelConfig[]): number {
  const prompt = promptTokenBound(req);
  return Math.max(...models.map((m) => costUsd(m.price, prompt, outputTokenBound(req, m))));
}
