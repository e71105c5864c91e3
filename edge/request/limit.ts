import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { payloadTooLarge } from "../errors.ts";

/**
 * Refuses request bodies over `maxBytes` with a 413. A body that declares its length
 * (content-length, no transfer-encoding) is judged by that header alone, as hono's bodyLimit
 * does too (the HTTP parser never delivers more than the declared length), but without touching
 * `c.req.raw.body`: on Node that makes @hono/node-server build a full WHATWG Request with a
 * ReadableStream for the body, where reading it with `c.req.text()` later takes its direct path
 * from the socket. That stream cost about a tenth of the gateway's CPU per request. Bodies of
 * unknown length (chunked) go through hono's bodyLimit, which counts them as they stream.
 */
export function bodySizeLimit(maxBytes: number): MiddlewareHandler {
  const tooLarge = () => {
    throw payloadTooLarge(maxBytes);
  };
  const counted = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return counted(c, next);
    if (parseInt(length, 10) > maxBytes) tooLarge();
    await next();
  };
}
