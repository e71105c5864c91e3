import type { ServerResponse } from "node:http";
import type { SimProvider } from "./script.ts";
import { sendJson } from "./http.ts";

/** Each provider's own error body for a status, so adapters meet the shapes they will see live. */

const OPENAI_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_error",
  404: "invalid_request_error",
  429: "rate_limit_exceeded",
};

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error",
};

const GEMINI_STATUSES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function errorBody(provider: SimProvider, status: number, message: string): unknown {
  if (provider === "openai") {
    const type = OPENAI_TYPES[status] ?? "server_error";
    return { error: { message, type, param: null, code: status === 401 ? "invalid_api_key" : status === 429 ? "rate_limit_exceeded" : null } };
  }
  if (provider === "anthropic") {
    return { type: "error", error: { type: ANTHROPIC_TYPES[status] ?? "api_error", message } };
  }
  const details =
    status === 429 ? [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }] : undefined;
  return { error: { code: status, message, status: GEMINI_STATUSES[status] ?? "UNKNOWN", ...(details ? { details } : {}) } };
}

export function sendError(res: ServerResponse, provider: SimProvider, status: number, message: string): void {
  sendJson(res, status, errorBody(provider, status, message), status === 429 ? { "retry-after": "1" } : {});
}
