import type { Conversation, Reply } from "./reply.ts";
import type { Route } from "./route.ts";
import { completionTokens, countChars, decideReply, embed, estimateTokens, streamPieces } from "./reply.ts";
import { SimBadRequest, sendEvents, sendJson } from "./http.ts";
import { nextId } from "./route.ts";

/** Gemini API generateContent family; the model comes from the URL, not the body. */

interface Part {
  text?: string;
  inlineData?: unknown;
  fileData?: unknown;
  functionCall?: unknown;
  functionResponse?: { name?: string; response?: unknown };
}
interface Content {
  role?: string;
  parts?: Part[];
}

/** Schema keys Gemini's OpenAPI-subset parameters refuse with a 400. */
const REJECTED_SCHEMA_KEYS = ["$schema", "additionalProperties"];

function checkSchema(schema: unknown, path: string): void {
  if (!schema || typeof schema !== "object") return;
  for (const [key, value] of Object.entries(schema)) {
    if (REJECTED_SCHEMA_KEYS.includes(key)) throw new SimBadRequest(`Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`);
    if (key === "properties" && value && typeof value === "object") {
      for (const [name, sub] of Object.entries(value)) checkSchema(sub, `${path}.properties[${name}]`);
    } else if (typeof value === "object") checkSchema(value, `${path}.${key}`);
  }
}

function validate(body: Record<string, unknown>): Content[] {
  if (!Array.isArray(body.contents) || body.contents.length === 0) throw new SimBadRequest("* GenerateContentRequest.contents: contents is not specified");
  const contents = body.contents as Content[];
  contents.forEach((content, i) => {
    if (content.role !== "user" && content.role !== "model") throw new SimBadRequest(`Please use a valid role: user, model. (contents[${i}])`);
    const previous = contents[i - 1];
    const calls = previous?.role === "model" ? (previous.parts ?? []).filter((p) => p.functionCall).length : 0;
    const responses = (content.parts ?? []).filter((p) => p.functionResponse).length;
    if (responses && responses !== calls) {
      throw new SimBadRequest("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.");
    }
  });
  const declarations = ((body.tools ?? []) as Array<{ functionDeclarations?: Array<{ parameters?: unknown }> }>).flatMap((t) => t.functionDeclarations ?? []);
  declarations.forEach((d, i) => checkSchema(d.parameters, `tools[0].function_declarations[${i}].parameters`));
  return contents;
}

function conversationOf(body: Record<string, unknown>, contents: Content[], model: string): Conversation {
  const last = contents[contents.length - 1]!;
  const result = (last.parts ?? []).find((p) => p.functionResponse)?.functionResponse;
  const lastUser = [...contents].reverse().find((c) => c.role === "user" && (c.parts ?? []).some((p) => typeof p.text === "string"));
  const declarations = ((body.tools ?? []) as Array<{ functionDeclarations?: Array<{ name?: string; parameters?: Record<string, unknown> }> }>).flatMap(
    (t) => t.functionDeclarations ?? [],
  );
  const calling = (body.toolConfig as { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } } | undefined)?.functionCallingConfig;
  const generation = body.generationConfig as { maxOutputTokens?: number } | undefined;
  const response = result?.response as { content?: unknown } | undefined;
  return {
    model,
    lastUserText: (lastUser?.parts ?? []).map((p) => p.text ?? "").join(""),
    toolResult: result ? (typeof response?.content === "string" ? response.content : JSON.stringify(result.response ?? {})) : undefined,
    tools: declarations.map((d) => ({ name: d.name ?? "", schema: d.parameters })),
    forcedTool: calling?.mode === "ANY" ? calling.allowedFunctionNames?.[0] : undefined,
    toolsDisabled: calling?.mode === "NONE",
    images: contents.reduce((n, c) => n + (c.parts ?? []).filter((p) => p.inlineData || p.fileData).length, 0),
    promptChars: countChars(body.systemInstruction) + countChars(contents) + countChars(body.tools),
    maxTokens: generation?.maxOutputTokens,
  };
}

function usage(promptTokens: number, candidateTokens: number) {
  return { promptTokenCount: promptTokens, candidatesTokenCount: candidateTokens, totalTokenCount: promptTokens + candidateTokens };
}

function finishReason(reply: Reply): string {
  return reply.kind === "text" && reply.truncated ? "MAX_TOKENS" : "STOP";
}

function candidate(parts: Part[], finish?: string) {
  return { content: { parts, role: "model" }, ...(finish ? { finishReason: finish } : {}), index: 0 };
}

/** Gemini separates SSE events with CRLF pairs; parsers must cope, so the simulator does the same. */
function streamEvents(conv: Conversation, reply: Reply, model: string): string[] {
  const promptTokens = estimateTokens(conv.promptChars);
  const responseId = nextId("sim");
  const event = (parts: Part[], sent: number, finish?: string) =>
    `data: ${JSON.stringify({ candidates: [candidate(parts, finish)], usageMetadata: usage(promptTokens, sent), modelVersion: model, responseId })}\r\n\r\n`;
  if (reply.kind === "tool") return [event([{ functionCall: { name: reply.name, args: reply.args } }], completionTokens(reply), "STOP")];
  const pieces = streamPieces(reply.text);
  let sent = "";
  return pieces.map((text, i) => {
    sent += text;
    return event([{ text }], estimateTokens(sent.length), i === pieces.length - 1 ? finishReason(reply) : undefined);
  });
}

function generate(stream: boolean): Route {
  return {
    provider: "gemini",
    kind: "chat",
    target: () => ({ model: "", stream }),
    respond(body, model, behaviour, res) {
      const contents = validate(body);
      const conv = conversationOf(body, contents, model);
      const reply = decideReply(conv, behaviour);
      if (stream) return sendEvents(res, streamEvents(conv, reply, model), behaviour);
      const parts = reply.kind === "text" ? [{ text: reply.text }] : [{ functionCall: { name: reply.name, args: reply.args } }];
      sendJson(res, 200, {
        candidates: [candidate(parts, finishReason(reply))],
        usageMetadata: usage(estimateTokens(conv.promptChars), completionTokens(reply)),
        modelVersion: model,
        responseId: nextId("sim"),
      });
    },
  };
}

interface EmbedRequest {
  model?: string;
  content?: { parts?: Part[] };
  outputDimensionality?: number;
}

function embedOne(request: EmbedRequest, model: string): { values: number[] } {
  if (request.model !== undefined && request.model !== `models/${model}`) {
    throw new SimBadRequest(`Model "${request.model}" in the request does not match "models/${model}" in the URL.`);
  }
  const text = (request.content?.parts ?? []).map((p) => p.text ?? "").join("");
  return { values: embed(text, request.outputDimensionality) };
}

const embedContent: Route = {
  provider: "gemini",
  kind: "embeddings",
  target: () => ({ model: "", stream: false }),
  respond(body, model, _behaviour, res) {
    sendJson(res, 200, { embedding: embedOne(body as EmbedRequest, model) });
  },
};

const batchEmbedContents: Route = {
  provider: "gemini",
  kind: "embeddings",
  target: () => ({ model: "", stream: false }),
  respond(body, model, _behaviour, res) {
    if (!Array.isArray(body.requests) || body.requests.length === 0) throw new SimBadRequest("* BatchEmbedContentsRequest.requests: requests is not specified");
    sendJson(res, 200, { embeddings: (body.requests as EmbedRequest[]).map((r) => embedOne(r, model)) });
  },
};

export const geminiRoutes: Record<string, Route> = {
  generateContent: generate(false),
  streamGenerateContent: generate(true),
  embedContent,
  batchEmbedContents,
};
