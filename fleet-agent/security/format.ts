import type { SecurityEventRecord } from "./store.ts";

/** Long commands and details are cut in the table; --json has them whole. */
const CELL_MAX = 80;
const cut = (s: string) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > CELL_MAX ? `${one.slice(0, CELL_MAX - 1)}…` : one || "-";
};

/** `godotz fleet security` as a table: newest first, one line per event. */
export function formatSecurityEvents(events: SecurityEventRecord[]): string {
  if (!events.length) return "No sandbox security events.";
  const rows = [
    ["AT", "NODE", "TASK", "KIND", "TRIED", "COMMAND"],
    ...events.map((e) => [e.at, e.node_id, e.task_id ?? "-", e.kind, cut(e.detail), cut(e.command)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n");
}
