/**
 * `run_` and 128 random bits in base36 (25 characters): unguessable, so a run id handed back to a
 * webhook caller does not reveal how many runs exist, and unlikely to repeat across every process
 * minting them without coordination; the primary key catches a repeat all the same. Web Crypto,
 * so the Worker entry mints them too.
 */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return `run_${n.toString(36).padStart(25, "0")}`;
}
