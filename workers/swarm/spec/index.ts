/** The swarm file: its schema, loading with positioned errors, cross-field rules and the editor JSON Schema. */
export { swarmSchema, agentTypes, maxParallelOf, MAX_PARALLEL, type SwarmSpec, type AgentSpec, type ModelAgentSpec, type PanelSpec, type AgentLimits } from "./schema.ts";
export { loadSwarmFile, parseSwarm, SwarmFileError, type LoadedSwarm, type SwarmIssue, type LoadOptions } from "./load.ts";
export { validateSwarm, catalogueFromConfig, resolveFamily, isCriticLike, type ModelCatalogue, type RuleIssue } from "./validate.ts";
export { type LoadedSkill } from "./skills.ts";
export { swarmJsonSchema, SWARM_SCHEMA_ID } from "./json-schema.ts";
