import type { Sql } from "../../shared/db/connect.ts";

/** A virtual key as stored: the secret itself is never kept, only its SHA-256. */
export interface VirtualKey {
  id: string;
  name: string;
  key_prefix: string;
  models: string[] | null;
  families: string[] | null;
  /** Teams or other groupings; a budget on a tag caps every key that carries it. */
  tags: string[];
  rpm: number | null;
  tpm: number | null;
  created_at: Date;
  revoked_at: Date | null;
}

export interface NewKey {
  name: string;
  models?: string[] | undefined;
  families?: string[] | undefined;
  tags?: string[] | undefined;
  rpm?: number | undefined;
  tpm?: number | undefined;
}

const KEY_PREFIX = "gdz_";

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 32 random bytes: high entropy, so a fast hash (not a password hash) is the right tool. */
export function generateKey(): string {
  return KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function hashKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const COLUMNS = "id, name, key_prefix, models, families, tags, rpm, tpm, created_at, revoked_at";

/** Channel on which every change to a key row is announced, with the key id as payload. */
export const KEY_CHANGES_CHANNEL = "godotz_key_changes";

export interface KeyCacheOptions {
  /** How long a looked-up key is trusted without asking Postgres again. */
  ttlMs: number;
  /** Most keys kept; the oldest entry goes first. */
  maxEntries?: number;
}

/**
 * Virtual keys in Postgres. Without a cache every lookup goes to the database, so a revocation
 * holds at once; that is what the Worker does.
 *
 * A long-lived process (the Node entry) may cache active keys in memory, which spares each
 * request a SHA-256 and a database round trip. The trade-off, across processes:
 * - `revoke()` announces the key id with NOTIFY in the same statement as the UPDATE, so the
 *   announcement exists exactly when the revocation commits, and every caching process
 *   LISTENs and drops the key when the announcement arrives. The process that revoked drops it
 *   at once, and `revoke()` returns only once its own listener has heard the announcement.
 *   Other processes hear it when their Postgres backend gets round to sending it, which
 *   Postgres does not bound (CI once caught a request served in that gap): a request that reaches
 *   another process in that gap is still served. This is not an acknowledged, fleet-wide
 *   barrier; the Worker entry, which does not cache, is strict.
 * - A lookup already in flight when a key is dropped is not cached (`generation`), so a read
 *   from before the commit cannot put a revoked key back.
 * - Notifications are lost while a process's listening connection is down, so the whole cache
 *   is dropped whenever that connection (re)connects, and an entry is never trusted longer than
 *   `ttlMs`: a revocation missed that way (or made by hand in SQL, without NOTIFY) holds at
 *   the latest `ttlMs` later. Until the listener is up nothing is cached.
 * - Only active keys are cached, never misses, so a new key works at once and unknown tokens
 *   cannot fill the cache. Entries are keyed by the secret itself (skipping the hash is the
 *   point); they live only in this process's memory, where each request's secret passes anyway.
 * Anything else that changes a key row must NOTIFY on KEY_CHANGES_CHANNEL the same way.
 */
export class KeyStore {
  private readonly cache = new Map<string, { key: VirtualKey; until: number }>();
  private listening = false;
  /** Revocations waiting for their own announcement to come back. */
  private readonly announced = new Map<string, () => void>();
  /** Bumped by every forget, so a lookup that raced a revocation is not cached. */
  private generation = 0;

  constructor(
    private readonly sql: Sql,
    private readonly cacheOptions?: KeyCacheOptions,
  ) {}

  /** Starts caching, once the subscription to key changes is in place. */
  async listenForChanges(): Promise<{ unlisten(): Promise<void> }> {
    const onChange = (id: string) => {
      this.forget(id);
      this.announced.get(id)?.();
    };
    return this.sql.listen(KEY_CHANGES_CHANNEL, onChange, () => {
      this.cache.clear();
      this.generation++;
      this.listening = true;
    });
  }

  async create(input: NewKey): Promise<VirtualKey & { key: string }> {
    const key = generateKey();
    const id = "vk_" + base64url(crypto.getRandomValues(new Uint8Array(9)));
    const [row] = await this.sql<VirtualKey[]>`
      INSERT INTO virtual_keys (id, name, key_hash, key_prefix, models, families, tags, rpm, tpm)
      VALUES (${id}, ${input.name}, ${await hashKey(key)}, ${key.slice(0, 10)}, ${input.models ?? null},
              ${input.families ?? null}, ${input.tags ?? []},
              ${input.rpm ?? null}, ${input.tpm ?? null})
      RETURNING ${this.sql.unsafe(COLUMNS)}`;
    return { ...row!, key };
  }

  async list(): Promise<VirtualKey[]> {
    return this.sql<VirtualKey[]>`SELECT ${this.sql.unsafe(COLUMNS)} FROM virtual_keys ORDER BY created_at, id`;
  }

  /** Marks a key revoked and announces it to every caching process; false when there is no such active key. */
  async revoke(id: string): Promise<boolean> {
    const heard = this.listening ? new Promise<void>((resolve) => this.announced.set(id, resolve)) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const rows = await this.sql`
        WITH revoked AS (UPDATE virtual_keys SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL RETURNING id)
        SELECT id, pg_notify(${KEY_CHANGES_CHANNEL}, id) FROM revoked`;
      this.forget(id);
      if (rows.length > 0 && heard) await Promise.race([heard, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      return rows.length > 0;
    } finally {
      clearTimeout(timer);
      this.announced.delete(id);
    }
  }

  /** The active key with this secret, or undefined (unknown or revoked). */
  async findActive(key: string): Promise<VirtualKey | undefined> {
    const cached = this.cache.get(key);
    if (cached && cached.until > performance.now()) return cached.key;
    if (cached) this.cache.delete(key);
    const generation = this.generation;
    const [row] = await this.sql<VirtualKey[]>`
      SELECT ${this.sql.unsafe(COLUMNS)} FROM virtual_keys WHERE key_hash = ${await hashKey(key)} AND revoked_at IS NULL`;
    if (row && this.cacheOptions && this.listening && generation === this.generation) this.remember(key, row, this.cacheOptions);
    return row;
  }

  private remember(secret: string, key: VirtualKey, options: KeyCacheOptions): void {
    if (this.cache.size >= (options.maxEntries ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(secret, { key, until: performance.now() + options.ttlMs });
  }

  private forget(id: string): void {
    this.generation++;
    for (const [secret, entry] of this.cache) if (entry.key.id === id) this.cache.delete(secret);
  }
}
