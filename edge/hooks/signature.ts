/**
 * Webhook signatures: `x-godotz-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * Several v1 values may be sent (one per secret while a secret is being rotated). Web Crypto
 * only, so the same code runs on Node and in a Cloudflare Worker; `crypto.subtle.verify` compares
 * in constant time.
 */

export const SIGNATURE_HEADER = "x-godotz-signature";
/** How far the signed time may be from the gateway's clock, either way. */
export const TOLERANCE_SECONDS = 300;
/** Bounds the work one request can ask for. */
const MAX_SIGNATURES = 8;
const MAX_HEADER_LENGTH = 1024;

export interface SignatureHeader {
  /** The signed time, unix seconds. */
  timestamp: number;
  signatures: Uint8Array<ArrayBuffer>[];
}

/** The header parsed, or why it is malformed. Keys other than t and v1 are ignored (later schemes). */
export function parseSignatureHeader(header: string): SignatureHeader | Error {
  if (header.length > MAX_HEADER_LENGTH) return new Error(`the header is longer than ${MAX_HEADER_LENGTH} characters`);
  let timestamp: number | undefined;
  const signatures: Uint8Array<ArrayBuffer>[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return new Error(`"${part.trim().slice(0, 20)}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp !== undefined) return new Error("t is given twice");
      if (!/^\d{1,12}$/.test(value)) return new Error("t must be unix seconds");
      timestamp = Number(value);
    } else if (key === "v1") {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return new Error("v1 must be 64 hex digits (HMAC-SHA256)");
      signatures.push(hexBytes(value));
    }
  }
  if (timestamp === undefined) return new Error("t is missing");
  if (signatures.length === 0) return new Error("no v1 signature");
  if (signatures.length > MAX_SIGNATURES) return new Error(`more than ${MAX_SIGNATURES} v1 signatures`);
  return { timestamp, signatures };
}

/** The bytes that are signed: `<t>.` followed by the raw body. */
export function signedContent(timestamp: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = new TextEncoder().encode(`${timestamp}.`);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

/** True when any v1 signature is the HMAC of the content under any of the secrets. */
export async function verifySignatures(secrets: string[], header: SignatureHeader, content: Uint8Array<ArrayBuffer>): Promise<boolean> {
  for (const secret of secrets) {
    const key = await hmacKey(secret, "verify");
    for (const signature of header.signatures) {
      if (await crypto.subtle.verify("HMAC", key, signature, content)) return true;
    }
  }
  return false;
}

/** The header value a sender puts on a delivery of `body` at `timestamp`, one v1 per secret. */
export async function signDelivery(secrets: string | string[], body: string | Uint8Array, timestamp = Math.floor(Date.now() / 1000)): Promise<string> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const content = signedContent(timestamp, bytes);
  const parts = [`t=${timestamp}`];
  for (const secret of [secrets].flat()) {
    const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), content);
    parts.push(`v1=${[...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("")}`);
  }
  return parts.join(",");
}

/** Hex SHA-256 of the signed content: what makes a delivery the same delivery, for replay refusal. */
export async function deliveryDigest(content: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", content);
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function hmacKey(secret: string, use: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [use]);
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
