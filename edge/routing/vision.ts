import type { ChatCompletionRequest } from "../chat/schema.ts";

/** True when any message carries an image part: such a request needs a model with vision. */
export function hasImages(req: Pick<ChatCompletionRequest, "messages">): boolean {
  return req.messages.some((m) => Array.isArray(m.content) && m.content.some((part) => part.type === "image_url"));
}
