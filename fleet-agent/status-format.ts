import type { FleetNodeView } from "./registry/table.ts";

function age(ms: number): string {
  if (ms < 1000) return "just now";
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s ago`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m ago` : `${Math.round(m / 60)}h ago`;
}

/** `godotz fleet status` as a table: one line per node, columns aligned. */
export function formatFleet(nodes: FleetNodeView[]): string {
  if (!nodes.length) return "No fleet nodes have registered yet (start one with `godotz fleet-agent`).";
  const rows = [
    ["NODE", "OS/ARCH", "HEALTH", "LOAD", "RUNNING", "LAST HEARTBEAT"],
    ...nodes.map((n) => [
      n.id, `${n.os}/${n.arch}`, n.health, `${n.running}/${n.capacity}`,
      n.running_tasks.length ? n.running_tasks.join(",") : "-", `${n.last_heartbeat} (${age(n.heartbeat_age_ms)})`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n");
}
