import { z } from "zod";

/**
 * The swarm file: one YAML document that defines a swarm. This schema is the contract between
 * the file users write, `godotz swarm validate|schema`, the LangGraph runtime and the Temporal
 * workflow; every field is documented in docs/swarms.md.
 *
 * Cross-field rules (names that must exist, the echo-chamber rule, which needs the gateway's
 * model→family map) live in validate.ts, not here, so the JSON Schema printed for editors stays
 * a plain description of the shape.
 */

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const name = z.string().regex(NAME, "must be lower case letters, digits, - or _, starting with a letter (at most 63)");
const ENV_REF = /^env:[A-Za-z_][A-Za-z0-9_]*$/;

export const agentTypes = ["supervisor", "worker", "critic", "reviewer", "swarm"] as const;

export const limitsSchema = z.strictObject({
  /** Model calls this agent may make in one run. */
  max_calls: z.number().int().positive().default(20),
  /** `max_tokens` sent with each of its model calls. */
  max_tokens: z.number().int().positive().default(2048),
  timeout_seconds: z.number().int().positive().default(120),
  /** Attempts for a transient failure (5xx, timeout, 429) before the step fails. */
  max_attempts: z.number().int().positive().max(10).default(4),
});

const agentBase = {
  role: z.string().min(1).max(200).optional().describe("What the agent is for, in a few words; told to the supervisor"),
  instructions: z.string().default("").describe("System prompt of the agent"),
  skills: z.array(z.string().min(1)).default([]).describe("Agent Skills folders (each with a SKILL.md), relative to the swarm file"),
  tools: z.array(name).default([]).describe("Names of MCP servers from `mcp_servers` whose tools this agent may call"),
  limits: limitsSchema.default({ max_calls: 20, max_tokens: 2048, timeout_seconds: 120, max_attempts: 4 }),
};

/** An agent backed by a model: `model` names one gateway model, `family` lets the gateway pick. */
export const modelAgentSchema = z
  .strictObject({
    type: z.enum(["supervisor", "worker", "critic", "reviewer"]).describe("supervisor routes; worker does the work; critic/reviewer checks it (must not share the supervisor's family)"),
    model: z.string().min(1).optional().describe("A model name from the gateway configuration (godotz.yaml `models`)"),
    family: z.string().min(1).optional().describe("A model family (e.g. glm, gemini, claude), or a role from `routing.roles`; the gateway picks the model"),
    ...agentBase,
  })
  .refine((a) => (a.model === undefined) !== (a.family === undefined), {
    message: "give exactly one of `model` or `family`",
  });

/** A worker that is itself a swarm, run as a subgraph; its file is relative to this one. */
export const nestedSwarmAgentSchema = z.strictObject({
  type: z.literal("swarm"),
  swarm: z.string().min(1).describe("Path of the nested swarm file, relative to this one"),
  role: agentBase.role,
});

// Discriminated on `type` so a mistake is reported against the kind of agent the author meant
// (and an unknown type lists the valid ones) instead of as a bare "Invalid input".
export const agentSchema = z.discriminatedUnion("type", [modelAgentSchema, nestedSwarmAgentSchema]);

/** A ReConcile-style round table: agents of different families answer, see each other, revise, vote. */
export const panelSchema = z.strictObject({
  agents: z.array(name).min(2).describe("Model agents on the panel, from at least two different families"),
  rounds: z.number().int().min(1).max(5).default(2).describe("Revision rounds before the confidence-weighted vote"),
  role: z.string().min(1).max(200).optional(),
});

/** Widest fan-out a swarm file may ask for: beyond this, a super-step is better split into rounds. */
export const MAX_PARALLEL = 32;

export const topologySchema = z.strictObject({
  supervisor: name,
  /** Agents (or panels) the supervisor may route to. */
  workers: z.array(name).min(1),
  /** Supervisor decisions before the run is stopped as unfinished. */
  max_turns: z.number().int().positive().max(1000).default(20),
  /**
   * Workers the supervisor may send work to at once (a fan-out); they run in parallel and the
   * supervisor sees all their answers. Optional rather than defaulted to 1, so a swarm without it
   * parses to the same value as before the field existed (stored runs, Temporal histories).
   */
  max_parallel: z
    .number()
    .int()
    .min(1)
    .max(MAX_PARALLEL)
    .optional()
    .describe(`Workers the supervisor may send work to at once, run in parallel (1-${MAX_PARALLEL}; default 1: one worker at a time)`),
});

/** A topology's fan-out width: 1 unless `max_parallel` says otherwise. */
export function maxParallelOf(topology: { max_parallel?: number | undefined }): number {
  return topology.max_parallel ?? 1;
}

export const mcpServerSchema = z.union([
  z.strictObject({
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string().regex(ENV_REF, "must be a reference such as env:NAME")).default({}),
  }),
  z.strictObject({ url: z.url() }),
]);

export const budgetSchema = z.strictObject({
  usd: z.number().positive(),
  /** `run`: each run may spend this much; `daily`/`monthly`: the swarm's runs together, calendar UTC. */
  period: z.enum(["run", "daily", "monthly"]).default("run"),
});

export const triggerSchema = z.union([
  z.strictObject({ webhook: z.strictObject({ secret: z.string().regex(ENV_REF, "must be a reference such as env:HOOK_SECRET") }) }),
  z.strictObject({ schedule: z.strictObject({ cron: z.string().min(1).describe("Cron expression, UTC: 5 fields, or 6 with seconds first") }) }),
]);

export const swarmSchema = z.strictObject({
  name,
  version: z.union([z.number().int().nonnegative(), z.string().min(1)]).transform(String),
  description: z.string().optional(),
  agents: z.record(name, agentSchema).refine((a) => Object.keys(a).length > 0, "a swarm needs at least one agent"),
  panels: z.record(name, panelSchema).default({}),
  topology: topologySchema,
  mcp_servers: z.record(name, mcpServerSchema).default({}),
  budget: budgetSchema.optional(),
  triggers: z.array(triggerSchema).default([]),
});

export type SwarmSpec = z.infer<typeof swarmSchema>;
export type AgentSpec = z.infer<typeof agentSchema>;
export type ModelAgentSpec = z.infer<typeof modelAgentSchema>;
export type PanelSpec = z.infer<typeof panelSchema>;
export type AgentLimits = z.infer<typeof limitsSchema>;
