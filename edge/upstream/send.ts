import type { ResolvedModel } from "../routing/resolve.ts";
import type { UpstreamRequest } from "../providers/types.ts";
import { GatewayError, invalidRequest, upstreamError } from "../errors.ts";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Why one upstream attempt failed, and whether another model in the chain may succeed. */
export class UpstreamAttemptError extends Error {
  constructor(
    readonly error: GatewayError,
    readonly retryable: boolean,
  ) {
    super(error.message);
    this.name = "UpstreamAttemptError";
  }
}

/**
 * Sends one request upstream. Aborts when the client goes away (`clientSignal`) or the provider's
 * timeout passes; maps failures to gateway errors, marking those worth trying elsewhere.
 */
export async function sendUpstream(
  fetchFn: FetchLike,
  model: ResolvedModel,
  request: UpstreamRequest,
  clientSignal: AbortSignal | undefined,
): Promise<{ response: Response; abort: () => void }> {
  const controller = new AbortController();
  const onClientAbort = () => controller.abort(new Error("client disconnected"));
  clientSignal?.addEventListener("abort", onClientAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new Error("timeout")), model.timeoutMs);
  const cleanup = () => {
    clearTimeout(timer);
    clientSignal?.removeEventListener("abort", onClientAbort);
  };
  let response: Response;
  try {
    response = await fetchFn(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: controller.signal,
    });
  } catch (error) {
    cleanup();
    const timedOut = controller.signal.aborted && (controller.signal.reason as Error | undefined)?.message === "timeout";
    if (timedOut) {
      throw new UpstreamAttemptError(upstreamError(504, `provider "${model.providerName}" did not answer within ${model.timeoutMs} ms`, "upstream_timeout"), true);
    }
    throw new UpstreamAttemptError(
      upstreamError(502, `could not reach provider "${model.providerName}": ${(error as Error).message}`, "upstream_unreachable"),
      !clientSignal?.aborted,
    );
  }
  if (!response.ok) {
    cleanup();
    throw await attemptErrorFor(model, response);
  }
  // The timer keeps running while the body streams: a stalled stream is cut at the same limit.
  return { response, abort: () => { cleanup(); controller.abort(new Error("client disconnected")); } };
}

async function attemptErrorFor(model: ResolvedModel, response: Response): Promise<UpstreamAttemptError> {
  const text = await response.text().catch(() => "");
  const detail = model.adapter.errorMessage(response.status, text);
  const where = `provider "${model.providerName}" (model ${model.name})`;
  const status = response.status;
  if (status === 429) {
    const retryAfter = response.headers.get("retry-after");
    const error = new GatewayError(429, "rate_limit_error", "rate_limited", `${where} is rate limiting: ${detail}`, null, retryAfter ? { "retry-after": retryAfter } : {});
    return new UpstreamAttemptError(error, true);
  }
  if (status >= 500) return new UpstreamAttemptError(upstreamError(status === 503 ? 503 : 502, `${where} failed with HTTP ${status}: ${detail}`), true);
  if (status === 401 || status === 403) {
    return new UpstreamAttemptError(upstreamError(502, `${where} refused the gateway's credentials (HTTP ${status}): ${detail}`, "upstream_auth_failed"), true);
  }
  // Any other 4xx is about the request itself; another model would refuse it too.
  return new UpstreamAttemptError(invalidRequest(`${where} rejected the request: ${detail}`, null, "upstream_invalid_request"), false);
}
