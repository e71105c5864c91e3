import type { NodeStatus, Progress } from "./plan.ts";

/**
 * A Temporal run as `godotz runs show --watch` draws it, from the workflow's `progress` query:
 * the supervisor and its workers with each node's state. Several workers can be running at once
 * (a fan-out), so they are also named together on one line above the graph.
 */

const MARK: Record<NodeStatus, string> = { pending: "·", running: "●", completed: "✔", failed: "✖", cancelled: "⊘" };

export function renderProgressGraph(progress: Progress): string {
  const lines = [
    `${progress.runId}  ${progress.swarm}  ${progress.status.toUpperCase()} on Temporal (workflow v${progress.version})  turn ${progress.turn}/${progress.maxTurns}`,
    "",
  ];
  const [supervisor, ...rest] = progress.nodes;
  const running = rest.filter((n) => n.status === "running").map((n) => n.name);
  if (running.length > 1) lines.push(`in parallel: ${running.join(", ")}`, "");
  const width = Math.max(...progress.nodes.map((n) => n.name.length)) + 2;
  const describe = (n: Progress["nodes"][number]) => {
    const steps = n.steps ? `  (${n.steps} step${n.steps === 1 ? "" : "s"})` : "";
    const detail = n.status === "failed" && n.error ? `: ${n.error.slice(0, 80)}` : "";
    return `${`[${n.name}]`.padEnd(width)} ${n.kind.padEnd(10)} ${MARK[n.status]} ${n.status}${steps}${detail}`;
  };
  if (supervisor) lines.push(describe(supervisor));
  rest.forEach((n, i) => lines.push(`  ${i === rest.length - 1 ? "└" : "├"}─► ${describe(n)}`));
  if (progress.error) lines.push("", `error: ${progress.error}`);
  if (progress.output && progress.status === "completed") lines.push("", `output: ${progress.output.slice(0, 300)}`);
  return lines.join("\n");
}

export function isFinished(progress: Progress): boolean {
  return progress.status === "completed" || progress.status === "failed" || progress.status === "cancelled";
}
