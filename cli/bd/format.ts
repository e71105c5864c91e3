import type { Task, TaskDetails, TreeNode } from "../../workers/tasks/index.ts";

/** Compact aligned lines, one task each, as beads' `bd list`: id, priority, status, type, title. */
export function taskLines(tasks: readonly Task[]): string[] {
  const idWidth = Math.max(0, ...tasks.map((t) => t.id.length));
  const statusWidth = Math.max(0, ...tasks.map((t) => t.status.length));
  const typeWidth = Math.max(0, ...tasks.map((t) => t.issue_type.length));
  return tasks.map((t) =>
    [t.id.padEnd(idWidth), `P${t.priority}`, t.status.padEnd(statusWidth), t.issue_type.padEnd(typeWidth), t.title + (t.assignee ? `  @${t.assignee}` : "")].join("  "),
  );
}

export function taskDetailLines(t: TaskDetails): string[] {
  const lines = [
    `${t.id}: ${t.title}`,
    `Status: ${t.status}    Priority: P${t.priority}    Type: ${t.issue_type}    Attempts: ${t.attempts}`,
  ];
  const optional: [string, unknown][] = [
    ["Assignee", t.assignee], ["Labels", t.labels.length ? t.labels.join(", ") : null], ["Estimate", t.estimated_minutes === null ? null : `${t.estimated_minutes} min`],
    ["Swarm", t.swarm], ["Claimed by", t.status === "in_progress" ? t.claimed_by : null], ["Lease until", t.lease_expires_at?.toISOString()],
    ["Close reason", t.close_reason], ["Error", t.error], ["Result", t.result === null ? null : JSON.stringify(t.result)],
  ];
  for (const [name, value] of optional) if (value !== null && value !== undefined) lines.push(`${name}: ${value}`);
  lines.push(`Created: ${t.created_at.toISOString()}    Updated: ${t.updated_at.toISOString()}${t.closed_at ? `    Closed: ${t.closed_at.toISOString()}` : ""}`);
  if (t.description) lines.push("", t.description);
  if (t.dependencies.length) lines.push("", "Depends on:", ...t.dependencies.map((d) => `  → ${d.id} [P${d.priority}] ${d.status} (${d.dependency_type}) ${d.title}`));
  if (t.dependents.length) lines.push("", "Depended on by:", ...t.dependents.map((d) => `  ← ${d.id} [P${d.priority}] ${d.status} (${d.dependency_type}) ${d.title}`));
  return lines;
}

export function treeLines(nodes: readonly TreeNode[]): string[] {
  return nodes.map((n) => `${"  ".repeat(n.depth)}${n.depth ? "└─ " : ""}${n.id} [P${n.priority}] ${n.status} ${n.title}${n.dependency_type ? ` (${n.dependency_type})` : ""}`);
}
