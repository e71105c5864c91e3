import path from "node:path";
import { startEmbeddedPostgres } from "../shared/db/embedded.ts";

/** The project's state folder; the embedded database lives under it. */
export const stateDir = () => path.resolve(process.env.GODOTZ_HOME ?? ".godotz");

/** DATABASE_URL when set (real Postgres), else the embedded Postgres under .godotz/, started if needed. */
export async function databaseUrl(log: (line: string) => void): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  const db = await startEmbeddedPostgres({ dataDir: path.join(stateDir(), "postgres"), log });
  if (db.owned) log(`godotz: started embedded Postgres at ${db.url.replace(/\/\/[^@]*@/, "//")}`);
  return db.url;
}
