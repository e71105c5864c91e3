import type { ProviderKind } from "../../shared/config/schema.ts";
import type { ProviderAdapter } from "./types.ts";
import { openaiAdapter } from "./openai/adapter.ts";
import { anthropicAdapter } from "./anthropic/adapter.ts";
import { geminiAdapter } from "./gemini/adapter.ts";

/** Adding a provider kind: a folder with its adapter, and one line here. */
export const adapters: Record<ProviderKind, ProviderAdapter> = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
};
