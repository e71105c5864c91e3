import { readFile } from "node:fs/promises";
import path from "node:path";
import { CliError } from "./errors.ts";
import { stateDir } from "./database.ts";

export interface AdminTarget {
  url: string;
  masterKey: string;
}

/** Where the admin API is: --url / GODOTZ_URL, else the local dev gateway recorded by `godotz dev`. */
export async function adminTarget(opts: { url?: string }): Promise<AdminTarget> {
  const dev = await readFile(path.join(stateDir(), "dev.json"), "utf8").then((t) => JSON.parse(t) as { url: string; master_key: string }, () => undefined);
  const url = opts.url ?? process.env.GODOTZ_URL ?? dev?.url;
  const masterKey = process.env.GODOTZ_MASTER_KEY ?? dev?.master_key;
  if (!url) throw new CliError("no gateway to talk to: pass --url, set GODOTZ_URL, or start `npm run dev`", 2);
  if (!masterKey) throw new CliError("the admin API needs the master key: set GODOTZ_MASTER_KEY", 2);
  return { url: url.replace(/\/+$/, ""), masterKey };
}

export async function adminRequest<T>(target: AdminTarget, method: string, route: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${target.url}/admin${route}`, {
      method,
      headers: { authorization: `Bearer ${target.masterKey}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : null,
    });
  } catch (error) {
    throw new CliError(`cannot reach the gateway at ${target.url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  const json = (await response.json().catch(() => ({}))) as T & { error?: { message: string } };
  if (!response.ok) throw new CliError(`gateway answered HTTP ${response.status}: ${json.error?.message ?? "no details"}`);
  return json;
}
