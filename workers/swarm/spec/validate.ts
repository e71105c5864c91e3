import type { GodotzConfig } from "../../../shared/config/schema.ts";
import { cronProblem } from "../schedule/cron.ts";
import type { ModelAgentSpec, SwarmSpec } from "./schema.ts";

/**
 * The rules a swarm file must meet beyond its shape: names that must exist, and the families
 * its agents resolve to (which needs the gateway's model catalogue). Each problem carries the
 * path of the offending key so the loader can point at its line and column.
 */

/** What validation needs of the gateway configuration: each model's family and type, role routing. */
export interface ModelCatalogue {
  models: Record<string, { family: string; type: "chat" | "embedding" }>;
  /** routing.roles: role → family; an agent's `family:` may name one of these roles. */
  roles?: Record<string, string>;
}

export interface RuleIssue {
  path: (string | number)[];
  message: string;
}

export function catalogueFromConfig(config: GodotzConfig): ModelCatalogue {
  return {
    models: Object.fromEntries(Object.entries(config.models).map(([name, m]) => [name, { family: m.family, type: m.type }])),
    roles: config.routing.roles,
  };
}

/** Critics and reviewers check others' work, so they are the ones that must not share the supervisor's weights. */
export function isCriticLike(agent: ModelAgentSpec): boolean {
  return agent.type === "critic" || agent.type === "reviewer" || /critic|review/i.test(agent.role ?? "");
}

/** The family an agent's calls go to: `family:` (or the family its role routes to), else its model's family. */
export function resolveFamily(agent: ModelAgentSpec, catalogue: ModelCatalogue | undefined): string | undefined {
  if (agent.family !== undefined) return catalogue?.roles?.[agent.family] ?? agent.family;
  return agent.model !== undefined ? catalogue?.models[agent.model]?.family : undefined;
}

/**
 * Checks the cross-field rules. Without a catalogue, the rules that need to know a model's family
 * are limited to agents that give `family:` directly; the CLI and the loader always pass one.
 */
export function validateSwarm(spec: SwarmSpec, catalogue?: ModelCatalogue): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const modelAgents = new Map<string, ModelAgentSpec>();
  for (const [name, agent] of Object.entries(spec.agents)) if (agent.type !== "swarm") modelAgents.set(name, agent);
  if (catalogue) checkModels(modelAgents, catalogue, issues);
  const families = new Map<string, string>();
  for (const [name, agent] of modelAgents) {
    const family = resolveFamily(agent, catalogue);
    if (family !== undefined && isKnownFamily(agent, catalogue)) families.set(name, family);
  }
  checkTopology(spec, issues);
  checkTools(spec, modelAgents, issues);
  checkPanels(spec, modelAgents, families, issues);
  checkEchoChamber(spec, modelAgents, families, issues);
  checkSchedules(spec, issues);
  return issues;
}

function checkModels(agents: Map<string, ModelAgentSpec>, catalogue: ModelCatalogue, issues: RuleIssue[]): void {
  const chatModels = Object.entries(catalogue.models).filter(([, m]) => m.type === "chat");
  const families = [...new Set(chatModels.map(([, m]) => m.family))];
  const roles = Object.keys(catalogue.roles ?? {});
  for (const [name, agent] of agents) {
    if (agent.model !== undefined) {
      const model = catalogue.models[agent.model];
      if (!model) {
        issues.push({ path: ["agents", name, "model"], message: `unknown model "${agent.model}" (models: ${chatModels.map(([n]) => n).join(", ") || "none"})` });
      } else if (model.type !== "chat") {
        issues.push({ path: ["agents", name, "model"], message: `"${agent.model}" is an ${model.type} model; an agent needs a chat model` });
      }
    } else if (agent.family !== undefined && !isKnownFamily(agent, catalogue)) {
      const known = `families: ${families.join(", ") || "none"}${roles.length ? `; roles: ${roles.join(", ")}` : ""}`;
      issues.push({ path: ["agents", name, "family"], message: `no chat model of family "${agent.family}" in the gateway configuration (${known})` });
    }
  }
}

function isKnownFamily(agent: ModelAgentSpec, catalogue: ModelCatalogue | undefined): boolean {
  if (!catalogue) return true;
  if (agent.model !== undefined) return catalogue.models[agent.model]?.type === "chat";
  const family = resolveFamily(agent, catalogue);
  return Object.values(catalogue.models).some((m) => m.type === "chat" && m.family === family);
}

function checkTopology(spec: SwarmSpec, issues: RuleIssue[]): void {
  const { supervisor, workers } = spec.topology;
  const agentNames = Object.keys(spec.agents);
  const boss = spec.agents[supervisor];
  if (!boss) {
    issues.push({ path: ["topology", "supervisor"], message: `unknown agent "${supervisor}" (agents: ${agentNames.join(", ")})` });
  } else if (boss.type !== "supervisor") {
    issues.push({ path: ["topology", "supervisor"], message: `"${supervisor}" is of type ${boss.type}; the supervisor must be a model agent of type supervisor` });
  }
  for (const name of Object.keys(spec.panels)) {
    if (spec.agents[name]) issues.push({ path: ["panels", name], message: `"${name}" is both an agent and a panel; workers are named by one or the other` });
  }
  const seen = new Set<string>();
  workers.forEach((name, i) => {
    if (name === supervisor) {
      issues.push({ path: ["topology", "workers", i], message: `"${name}" is the supervisor; it cannot also be one of its workers` });
    } else if (!spec.agents[name] && !spec.panels[name]) {
      const known = [...agentNames.filter((a) => a !== supervisor), ...Object.keys(spec.panels)];
      issues.push({ path: ["topology", "workers", i], message: `unknown worker "${name}": no agent or panel of that name (${known.join(", ") || "none"})` });
    } else if (seen.has(name)) {
      issues.push({ path: ["topology", "workers", i], message: `"${name}" is listed twice` });
    }
    seen.add(name);
  });
  const width = spec.topology.max_parallel;
  if (width !== undefined && width > 1 && width > seen.size) {
    issues.push({
      path: ["topology", "max_parallel"],
      message: `max_parallel is ${width} but the supervisor has only ${seen.size} worker${seen.size === 1 ? "" : "s"} to send work to; a fan-out runs each worker at most once per step`,
    });
  }
}

function checkTools(spec: SwarmSpec, agents: Map<string, ModelAgentSpec>, issues: RuleIssue[]): void {
  const servers = Object.keys(spec.mcp_servers);
  for (const [name, agent] of agents) {
    agent.tools.forEach((tool, i) => {
      if (!spec.mcp_servers[tool]) {
        issues.push({ path: ["agents", name, "tools", i], message: `unknown MCP server "${tool}" (mcp_servers: ${servers.join(", ") || "none declared"})` });
      }
    });
  }
}

function checkPanels(spec: SwarmSpec, agents: Map<string, ModelAgentSpec>, families: Map<string, string>, issues: RuleIssue[]): void {
  for (const [panelName, panel] of Object.entries(spec.panels)) {
    const seen = new Set<string>();
    let allResolved = true;
    panel.agents.forEach((name, i) => {
      const path = ["panels", panelName, "agents", i];
      if (!spec.agents[name]) {
        issues.push({ path, message: `unknown agent "${name}"` });
      } else if (!agents.has(name)) {
        issues.push({ path, message: `"${name}" is a nested swarm; panel members must be model agents` });
      } else if (seen.has(name)) {
        issues.push({ path, message: `"${name}" sits on the panel twice` });
      }
      seen.add(name);
      if (!families.has(name)) allResolved = false;
    });
    if (!allResolved) continue;
    const distinct = new Set(panel.agents.map((n) => families.get(n)));
    if (distinct.size < 2) {
      issues.push({
        path: ["panels", panelName, "agents"],
        message: `a panel needs agents from at least two model families; ${panel.agents.join(", ")} are all "${[...distinct][0]}"`,
      });
    }
  }
}

function checkEchoChamber(spec: SwarmSpec, agents: Map<string, ModelAgentSpec>, families: Map<string, string>, issues: RuleIssue[]): void {
  const supervisor = spec.topology.supervisor;
  const bossFamily = families.get(supervisor);
  if (bossFamily === undefined || agents.get(supervisor)?.type !== "supervisor") return;
  for (const [name, agent] of agents) {
    if (name === supervisor || !isCriticLike(agent) || families.get(name) !== bossFamily) continue;
    const kind = agent.type === "critic" || agent.type === "reviewer" ? agent.type : `${agent.type} (role "${agent.role}")`;
    issues.push({
      path: ["agents", name, agent.model !== undefined ? "model" : "family"],
      message:
        `echo chamber: ${kind} "${name}" and supervisor "${supervisor}" both resolve to model family "${bossFamily}"; ` +
        `a critic or reviewer must use a different family from the supervisor so their biases do not reinforce each other`,
    });
  }
}

/** A schedule must be a cron expression the workers can follow (five fields, or six with seconds; UTC). */
function checkSchedules(spec: SwarmSpec, issues: RuleIssue[]): void {
  spec.triggers.forEach((trigger, i) => {
    if (!("schedule" in trigger)) return;
    const problem = cronProblem(trigger.schedule.cron);
    if (problem) issues.push({ path: ["triggers", i, "schedule", "cron"], message: problem });
  });
}
