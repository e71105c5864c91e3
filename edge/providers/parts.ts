import type { ChatMessage, ContentPart } from "../chat/schema.ts";
import { UnsupportedInputError } from "./types.ts";

/** Content helpers shared by the adapters that must rebuild OpenAI messages in another shape. */

export type MessageContent = ChatMessage["content"];

/** All text of a message, parts joined; non-text parts are ignored. */
export function textOf(content: MessageContent): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "text" ? (part as { text: string }).text : "")).join("");
}

export function partsOf(content: MessageContent): ContentPart[] {
  if (content == null) return [];
  return typeof content === "string" ? [{ type: "text", text: content }] : content;
}

export type ImageRef = { kind: "inline"; mimeType: string; data: string } | { kind: "url"; url: string };

/** An image_url part as inline base64 (from a data: URL) or a remote URL. */
export function imageOf(part: ContentPart): ImageRef {
  const url = (part as { image_url: { url: string } }).image_url.url;
  if (url.startsWith("data:")) {
    const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
    if (!match) throw new UnsupportedInputError("image data: URLs must be base64-encoded (data:<mime>;base64,...)");
    return { kind: "inline", mimeType: match[1]!, data: match[2]! };
  }
  if (/^https?:\/\//i.test(url)) return { kind: "url", url };
  throw new UnsupportedInputError(`unsupported image URL scheme: ${url.slice(0, 40)}`);
}

const MIME_BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  pdf: "application/pdf",
};

/** Providers that fetch by URI still want a MIME type; the extension is all we know without a fetch. */
export function mimeFromUrl(url: string): string {
  const path = url.split(/[?#]/)[0] ?? "";
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return MIME_BY_EXTENSION[ext] ?? "image/jpeg";
}

/** Tool-call arguments arrive as a JSON string; providers that want an object get `{}` for empty input. */
export function parseArguments(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through: the model produced arguments that are not a JSON object
  }
  throw new UnsupportedInputError(`tool call arguments must be a JSON object: ${args.slice(0, 100)}`);
}
