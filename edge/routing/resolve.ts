import type { GodotzConfig, ModelConfig } from "../../shared/config/schema.ts";
import { resolveOptionalRef, type Env } from "../../shared/config/secrets.ts";
import { adapters } from "../providers/registry.ts";
import type { ProviderAdapter, UpstreamTarget } from "../providers/types.ts";
import { modelNotFound, upstreamError } from "../errors.ts";

/** A model ready to call: its config, its provider's adapter and where to send the request. */
export interface ResolvedModel {
  name: string;
  config: ModelConfig;
  providerName: string;
  adapter: ProviderAdapter;
  target: UpstreamTarget;
  timeoutMs: number;
}

/**
 * Resolves secrets once at start-up. A provider whose key variable is unset stays configured and
 * fails on use with a message naming the variable, so one missing key does not take down the
 * other providers.
 */
export function buildModelTable(config: GodotzConfig, env: Env): Map<string, ResolvedModel | (() => never)> {
  const table = new Map<string, ResolvedModel | (() => never)>();
  for (const [name, model] of Object.entries(config.models)) {
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
  return table;
}

export function lookupModel(table: ReturnType<typeof buildModelTable>, name: string): ResolvedModel {
  const entry = table.get(name);
  if (!entry) throw modelNotFound(name);
  return typeof entry === "function" ? entry() : entry;
}
