/**
 * Typed gateway errors. Handlers throw these; app.ts maps them once to OpenAI's error shape
 * `{"error":{"message","type","code","param"}}`, which the official SDKs turn into typed errors.
 */

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "api_error";

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }

  toBody() {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code = "invalid_request") =>
  new GatewayError(400, "invalid_request_error", code, message, param);

export const unauthorized = (message: string) => new GatewayError(401, "authentication_error", "invalid_api_key", message);

export const forbidden = (message: string) => new GatewayError(403, "permission_error", "model_not_allowed", message);

export const modelNotFound = (model: string) =>
  new GatewayError(404, "invalid_request_error", "model_not_found", `The model "${model}" does not exist or is not configured in this gateway`, "model");

export const notFound = (message: string) => new GatewayError(404, "not_found_error", "not_found", message);

export const payloadTooLarge = (limit: number) =>
  new GatewayError(413, "invalid_request_error", "request_too_large", `Request body is larger than the limit of ${limit} bytes`);

/** The upstream failed (after any fallbacks): 502 bad answer, 503 unavailable, 504 timed out. */
export const upstreamError = (status: 502 | 503 | 504, message: string, code = "upstream_error") =>
  new GatewayError(status, "api_error", code, message);
