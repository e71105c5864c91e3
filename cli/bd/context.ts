import { openDatabase } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { databaseUrl } from "../database.ts";
import { TaskStore } from "../../workers/tasks/index.ts";

/**
 * Runs one command against the godotz database (DATABASE_URL, else the embedded one), applying
 * migrations on first use so `bd` works on a fresh database with no separate step.
 */
export async function withStore<T>(fn: (store: TaskStore) => Promise<T>): Promise<T> {
  const sql = openDatabase(await databaseUrl((line) => console.error(line)), { max: 1 });
  try {
    await migrate(sql);
    return await fn(new TaskStore(sql));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `--json` prints what beads prints: task objects with snake_case fields, arrays for lists. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
