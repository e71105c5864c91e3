import path from "node:path";
import postgres from "postgres";
import { startEmbeddedPostgres } from "../../shared/db/embedded.ts";

const LOOPBACK_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

let adminUrl: Promise<string> | undefined;

/**
 * The server the tests create databases on: the real Postgres on loopback (always in CI), or, on
 * a laptop without one, the embedded Postgres, so `npm test` works on a machine with only Node.
 */
export function testServerUrl(): Promise<string> {
  adminUrl ??= (async () => {
    const probe = postgres(LOOPBACK_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
    try {
      await probe`SELECT 1`;
      return LOOPBACK_URL;
    } catch (error) {
      if (process.env.CI || process.env.TEST_DATABASE_URL) throw error;
      const db = await startEmbeddedPostgres({ dataDir: path.resolve(".godotz/test-postgres") });
      const url = new URL(db.url);
      url.pathname = "/postgres";
      return url.toString();
    } finally {
      await probe.end();
    }
  })();
  return adminUrl;
}

/** A new, empty database for one test file, dropped by `drop()`: tests never share state. */
export async function freshDatabase(prefix = "godotz_test"): Promise<{ url: string; drop(): Promise<void> }> {
  const server = await testServerUrl();
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(server, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
