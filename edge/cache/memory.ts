import { asCachedAnswer, type CachedAnswer, type ResponseCache } from "./answer.ts";

interface Entry {
  /** Stored as text so a caller mutating what it got back cannot change the cache. */
  json: string;
  expiresAt: number;
}

/**
 * The in-process cache used when there is no Redis: an LRU with a per-entry TTL, bounded in
 * entries so a long-running gateway does not grow without limit. A Map keeps insertion order,
 * so re-inserting on every hit keeps the least recently used entry first.
 */
export class MemoryResponseCache implements ResponseCache {
  readonly kind = "memory";
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { maxEntries: number; now?: () => number }) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries));
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry);
    return asCachedAnswer(entry.json);
  }

  async set(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
    if (!(ttlSeconds > 0)) return;
    this.entries.delete(key);
    this.entries.set(key, { json: JSON.stringify(answer), expiresAt: this.now() + ttlSeconds * 1000 });
    // Expired entries are dropped lazily on read; at the bound, the least recently used goes first.
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
