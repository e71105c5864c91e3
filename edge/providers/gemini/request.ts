import type { ChatCompletionRequest, ChatMessage, ContentPart } from "../../chat/schema.ts";
import { UnsupportedInputError } from "../types.ts";
import { imageOf, mimeFromUrl, parseArguments, partsOf, textOf } from "../parts.ts";
import { toGeminiParameters } from "./schema.ts";

/** OpenAI chat request -> Gemini GenerateContentRequest body. */

type Part = Record<string, unknown>;
interface Content {
  role: "user" | "model";
  parts: Part[];
}

/**
 * Gemini 3 rejects a history whose function calls lack the thought signature it issued. The
 * OpenAI shape has nowhere to keep it, so history turns carry the value Google documents for
 * calls that did not come from the current model.
 */
export const HISTORY_THOUGHT_SIGNATURE = "skip_thought_signature_validator";

function partOf(part: ContentPart): Part {
  if (part.type === "text") return { text: (part as { text: string }).text };
  if (part.type === "image_url") {
    const image = imageOf(part);
    return image.kind === "inline"
      ? { inlineData: { mimeType: image.mimeType, data: image.data } }
      : { fileData: { mimeType: mimeFromUrl(image.url), fileUri: image.url } };
  }
  throw new UnsupportedInputError(`content part type "${part.type}" is not supported for Gemini models`);
}

function partsFor(content: ChatMessage["content"]): Part[] {
  return partsOf(content)
    .filter((part) => part.type !== "text" || (part as { text: string }).text !== "")
    .map(partOf);
}

/** Merging keeps the turns alternating and gives parallel tool results one turn, as Gemini expects. */
function pushContent(contents: Content[], role: Content["role"], parts: Part[]): void {
  if (parts.length === 0) return;
  const last = contents[contents.length - 1];
  if (last && last.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function contentsOf(messages: ChatMessage[]): { contents: Content[]; system: string[] } {
  const contents: Content[] = [];
  const system: string[] = [];
  // Gemini answers a function by name; OpenAI by call id, so remember which id named what.
  const toolNameById = new Map<string, string>();
  for (const message of messages) {
    if (message.role === "system" || message.role === "developer") {
      system.push(textOf(message.content));
    } else if (message.role === "user") {
      pushContent(contents, "user", partsFor(message.content));
    } else if (message.role === "assistant") {
      const parts = partsFor(message.content);
      (message.tool_calls ?? []).forEach((call, i) => {
        toolNameById.set(call.id, call.function.name);
        const part: Part = { functionCall: { name: call.function.name, args: parseArguments(call.function.arguments) } };
        if (i === 0) part.thoughtSignature = HISTORY_THOUGHT_SIGNATURE;
        parts.push(part);
      });
      pushContent(contents, "model", parts);
    } else {
      const name = toolNameById.get(message.tool_call_id);
      if (!name) throw new UnsupportedInputError(`tool message answers unknown tool_call_id "${message.tool_call_id}"`);
      pushContent(contents, "user", [{ functionResponse: { name, response: { content: textOf(message.content) } } }]);
    }
  }
  return { contents, system };
}

function toolConfigOf(choice: ChatCompletionRequest["tool_choice"]): Record<string, unknown> | undefined {
  if (choice == null) return undefined;
  if (typeof choice === "object") {
    return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.function.name] } };
  }
  const mode = { auto: "AUTO", required: "ANY", none: "NONE" }[choice];
  return { functionCallingConfig: { mode } };
}

function generationConfigOf(req: ChatCompletionRequest): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (req.temperature != null) config.temperature = req.temperature;
  if (req.top_p != null) config.topP = req.top_p;
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens != null) config.maxOutputTokens = maxTokens;
  if (req.stop != null) config.stopSequences = typeof req.stop === "string" ? [req.stop] : req.stop;
  if (req.seed != null) config.seed = req.seed;
  const format = req.response_format;
  if (format?.type === "json_object" || format?.type === "json_schema") config.responseMimeType = "application/json";
  const jsonSchema = (format?.json_schema as { schema?: unknown } | undefined)?.schema;
  // responseJsonSchema takes JSON Schema as is, so no conversion is needed here.
  if (format?.type === "json_schema" && jsonSchema) config.responseJsonSchema = jsonSchema;
  return config;
}

export function toGenerateContentBody(req: ChatCompletionRequest): Record<string, unknown> {
  const { contents, system } = contentsOf(req.messages);
  const body: Record<string, unknown> = { contents };
  const systemText = system.filter(Boolean).join("\n\n");
  if (systemText) body.systemInstruction = { parts: [{ text: systemText }] };
  if (req.tools?.length) {
    const functionDeclarations = req.tools.map((tool) => {
      const parameters = toGeminiParameters(tool.function.parameters);
      return {
        name: tool.function.name,
        ...(tool.function.description ? { description: tool.function.description } : {}),
        ...(parameters ? { parameters } : {}),
      };
    });
    body.tools = [{ functionDeclarations }];
    const toolConfig = toolConfigOf(req.tool_choice);
    if (toolConfig) body.toolConfig = toolConfig;
  }
  const generationConfig = generationConfigOf(req);
  if (Object.keys(generationConfig).length) body.generationConfig = generationConfig;
  return body;
}
