import { z } from "zod";
import { modelAgentSchema, swarmSchema } from "./schema.ts";

/** Identifies the format; editors key completions on it, and a breaking change gets a new one. */
export const SWARM_SCHEMA_ID = "urn:godotz:swarm:v1";

/**
 * The swarm file format as JSON Schema (draft 2020-12) for editors: the input side, so fields
 * with defaults are optional, as they are when writing the file. Cross-field rules (names that
 * must exist, model families) are not expressible here; `godotz swarm validate` checks those.
 */
export function swarmJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(swarmSchema, {
    io: "input",
    target: "draft-2020-12",
    override: (ctx) => {
      // The one refinement an editor can check too: an agent names a model or a family, not both.
      if (ctx.zodSchema === modelAgentSchema) ctx.jsonSchema.oneOf = [{ required: ["model"] }, { required: ["family"] }];
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SWARM_SCHEMA_ID,
    title: "godotz swarm",
    description: "A godotz swarm file: agents, their topology, budget and triggers. See docs/swarms.md.",
    ...rest,
  };
}
