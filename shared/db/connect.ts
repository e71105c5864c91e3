import postgres from "postgres";

export type Sql = postgres.Sql;

export interface ConnectOptions {
  /** Pool size; the gateway wants a few, a CLI command one. */
  max?: number;
  /** Workers have no long-lived sockets between requests, so they connect per request. */
  idleTimeoutSeconds?: number;
}

/** Opens a postgres.js pool. Numerics come back as strings by default; costs are read as numbers here. */
export function openDatabase(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    connect_timeout: 10,
    onnotice: () => {},
    types: {
      // numeric → JS number: costs and budgets stay far inside double precision.
      numeric: { to: 1700, from: [1700], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
  });
}
