import { GatewayError } from "../errors.ts";

/**
 * Webhook refusals, in OpenAI's error shape like the rest of the edge (app.ts maps them). An
 * unknown swarm and a swarm without a webhook trigger answer alike, so unsigned callers cannot
 * tell which swarms exist.
 */
export const hookNotFound = (swarm: string) =>
  new GatewayError(404, "not_found_error", "webhook_not_found", `No webhook is deployed for swarm "${swarm}"`);

export const missingSignature = (header: string) =>
  new GatewayError(401, "authentication_error", "missing_signature", `The ${header} header is missing`);

export const malformedSignature = (header: string, why: string) =>
  new GatewayError(401, "authentication_error", "malformed_signature", `The ${header} header is malformed: ${why}`);

export const invalidSignature = () =>
  new GatewayError(401, "authentication_error", "invalid_signature", "No signature matches the body and the webhook's secret");

export const staleSignature = (toleranceSeconds: number) =>
  new GatewayError(401, "authentication_error", "stale_signature", `The signature's timestamp is more than ${toleranceSeconds} s from the gateway's clock; sign the delivery again`);

export const replayedDelivery = () =>
  new GatewayError(409, "invalid_request_error", "replayed_delivery", "This delivery was already accepted (same timestamp and body)");

export const invalidHookBody = (message: string, param: string | null = null) =>
  new GatewayError(400, "invalid_request_error", "invalid_body", message, param);

export const hookSecretMissing = (swarm: string) =>
  new GatewayError(500, "api_error", "webhook_misconfigured", `The webhook of swarm "${swarm}" cannot verify deliveries: its secret is not set on this gateway`);
