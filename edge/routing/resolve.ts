import type { GodotzConfig, ModelConfig } from "../../shared/config/schema.ts";
import { resolveOptionalRef, type Env } from "../../shared/config/secrets.ts";
import { adapters } from "../providers/registry.ts";
import type { ProviderAdapter, UpstreamTarget } from "../providers/types.ts";
import { invalidRequest, modelNotFound, upstreamError, type GatewayError } from "../errors.ts";

/** A model ready to call: its config, its provider's adapter and where to send the request. */
export interface ResolvedModel {
  name: string;
  config: ModelConfig;
  providerName: string;
  adapter: ProviderAdapter;
  target: UpstreamTarget;
  timeoutMs: number;
}

/** A role or family a chat request may name instead of a model, and the chat models it stands for. */
export interface ModelGroup {
  family: string;
  /** The role of `routing.roles` this name is, when it is one. */
  role?: string;
  /** The family's chat models, in configuration order (the order health keeps unless it clearly says otherwise). */
  chat: string[];
  /** The family's embedding models, named in the error that refuses a family on /v1/embeddings. */
  embedding: string[];
}

/**
 * The configured models by name, plus the roles and families that stand for some of them.
 * Precedence is model > role > family; the config schema refuses a role or family spelled like a
 * model, so only a role may shadow a family.
 */
export class ModelTable extends Map<string, ResolvedModel | (() => never)> {
  readonly groups = new Map<string, ModelGroup>();
}

/**
 * Resolves secrets once at start-up. A provider whose key variable is unset stays configured and
 * fails on use with a message naming the variable, so one missing key does not take down the
 * other providers.
 */
export function buildModelTable(config: GodotzConfig, env: Env): ModelTable {
  const table = new ModelTable();
  for (const [name, model] of Object.entries(config.models)) {
    const group = table.groups.get(model.family) ?? { family: model.family, chat: [], embedding: [] };
    group[model.type].push(name);
    table.groups.set(model.family, group);
    const provider = config.providers[model.provider]!;
    const adapter = adapters[provider.kind];
    const apiKey = resolveOptionalRef(provider.api_key, env);
    const baseUrl = resolveOptionalRef(provider.base_url, env) ?? (provider.base_url ? undefined : adapter.defaultBaseUrl);
    const missing = [
      provider.api_key && !apiKey ? provider.api_key.slice(4) : undefined,
      !baseUrl ? provider.base_url?.slice(4) : undefined,
    ].filter(Boolean);
    if (missing.length > 0) {
      table.set(name, () => {
        throw upstreamError(503, `provider "${model.provider}" for model "${name}" is not usable: environment variable ${missing.join(", ")} is not set`, "provider_not_configured");
      });
      continue;
    }
    table.set(name, {
      name,
      config: model,
      providerName: model.provider,
      adapter,
      target: { baseUrl: baseUrl!, apiKey, headers: provider.headers ?? {}, upstreamModel: model.upstream_model ?? name },
      timeoutMs: provider.timeout_ms,
    });
  }
  for (const [role, family] of Object.entries(config.routing.roles)) {
    const group = table.groups.get(family);
    if (group) table.groups.set(role, { ...group, role });
  }
  return table;
}

export function lookupModel(table: ModelTable, name: string): ResolvedModel {
  const entry = table.get(name);
  if (!entry) {
    const group = table.groups.get(name);
    if (group) throw groupNotAModel(name, group);
    throw modelNotFound(name);
  }
  return typeof entry === "function" ? entry() : entry;
}

/** Roles and families route chat completions only; elsewhere (embeddings) a model must be named. */
function groupNotAModel(name: string, group: ModelGroup): GatewayError {
  const what = group.role ? `a role (family ${group.family})` : "a model family";
  const models = group.embedding.length ? `; its embedding models: ${group.embedding.join(", ")}` : "";
  return invalidRequest(`"${name}" is ${what}, not a model: roles and families route chat completions only, so name a model here${models}`, "model", "model_family_not_supported");
}
