import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * A short, readable id like beads' (`gz-a1b2`). Random rather than sequential so ids minted by
 * many processes never need coordination; a collision is caught by the primary key and retried longer.
 */
export function newTaskId(length = 4): string {
  const bytes = randomBytes(length);
  let out = "gz-";
  // byte % 36 favours the first few characters slightly; harmless for ids, which only need to be unlikely to repeat.
  for (const b of bytes) out += ALPHABET[b % 36];
  return out;
}
