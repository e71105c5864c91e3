import { Command } from "commander";
import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import path from "node:path";
import { stopEmbeddedPostgres } from "../shared/db/embedded.ts";
import { databaseUrl, stateDir } from "./database.ts";
import { loadConfigFile } from "./config-file.ts";

export function migrateCommand(): Command {
  return new Command("migrate").description("apply database migrations (DATABASE_URL, else the embedded database)").action(async () => {
    const sql = openDatabase(await databaseUrl((l) => console.error(l)), { max: 1 });
    try {
      const applied = await migrate(sql);
      console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
    } finally {
      await sql.end();
    }
  });
}

export function configCommand(): Command {
  const config = new Command("config").description("work with godotz.yaml");
  config
    .command("check")
    .description("validate a configuration file; errors name the field and line")
    .argument("[file]", "file to check (default: $GODOTZ_CONFIG or ./godotz.yaml)")
    .action(async (file?: string) => {
      const { path, config } = await loadConfigFile(file);
      console.log(`${path}: ok (${Object.keys(config.providers).length} providers, ${Object.keys(config.models).length} models)`);
    });
  return config;
}

export function dbCommand(): Command {
  const db = new Command("db").description("the embedded Postgres under .godotz/ (used when DATABASE_URL is unset)");
  db.command("start")
    .description("start it (commands that need it start it on their own)")
    .action(async () => console.log(await databaseUrl((l) => console.error(l))));
  db.command("stop")
    .description("stop it; its data stays under .godotz/postgres")
    .action(async () => {
      await stopEmbeddedPostgres(path.join(stateDir(), "postgres"));
      console.log("embedded Postgres stopped");
    });
  return db;
}
