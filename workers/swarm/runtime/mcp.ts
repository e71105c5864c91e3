import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { SwarmSpec } from "../spec/schema.ts";
import type { ToolDefinition } from "./gateway.ts";
import { stepFailure } from "./steps.ts";

/**
 * An agent's MCP tools: each server it names in `tools` is connected (a stdio command or a
 * streamable HTTP URL), its tools are offered to the model as OpenAI function tools named
 * `<server>__<tool>`, and the model's calls are executed on the server they came from.
 */
export interface AgentTools {
  definitions: ToolDefinition[];
  run(name: string, args: string): Promise<string>;
  close(): Promise<void>;
}

const SEPARATOR = "__";

export async function connectTools(spec: SwarmSpec, servers: readonly string[], env: Record<string, string | undefined> = process.env): Promise<AgentTools> {
  const clients = new Map<string, Client>();
  const close = async () => {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => {})));
  };
  const definitions: ToolDefinition[] = [];
  try {
    for (const server of servers) {
      const config = spec.mcp_servers[server];
      if (!config) throw stepFailure(`MCP server ${server} is not defined in mcp_servers`);
      const client = new Client({ name: "godotz-swarm", version: "1.0.0" });
      const transport =
        "url" in config
          ? new StreamableHTTPClientTransport(new URL(config.url))
          : new StdioClientTransport({ command: config.command, args: config.args, env: { ...getDefaultEnvironment(), ...resolveEnv(server, config.env, env) }, stderr: "ignore" });
      try {
        await client.connect(transport);
      } catch (error) {
        throw stepFailure(`cannot connect to MCP server ${server}: ${(error as Error).message}`);
      }
      clients.set(server, client);
      const { tools } = await client.listTools();
      for (const tool of tools) {
        definitions.push({
          type: "function",
          function: { name: `${server}${SEPARATOR}${tool.name}`, ...(tool.description ? { description: tool.description } : {}), parameters: tool.inputSchema as Record<string, unknown> },
        });
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    definitions,
    close,
    async run(name, args) {
      const cut = name.indexOf(SEPARATOR);
      const client = cut > 0 ? clients.get(name.slice(0, cut)) : undefined;
      if (!client) return `error: there is no tool named ${name}`;
      let parsed: Record<string, unknown>;
      try {
        parsed = args.trim() ? (JSON.parse(args) as Record<string, unknown>) : {};
      } catch {
        return `error: the arguments of ${name} are not JSON`;
      }
      const result = await client.callTool({ name: name.slice(cut + SEPARATOR.length), arguments: parsed });
      const text = (result.content as { type: string; text?: string }[] | undefined)?.map((c) => (c.type === "text" ? (c.text ?? "") : `[${c.type}]`)).join("\n") ?? JSON.stringify(result);
      return result.isError ? `error: ${text}` : text;
    },
  };
}

function resolveEnv(server: string, refs: Record<string, string>, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, ref] of Object.entries(refs)) {
    const value = env[ref.slice(4)];
    if (value === undefined) throw stepFailure(`MCP server ${server}: environment variable ${ref.slice(4)} (for ${key}) is not set`);
    out[key] = value;
  }
  return out;
}
