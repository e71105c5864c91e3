import { z } from "zod";

/**
 * The godotz.yaml schema. Secrets are references (`env:NAME`), never literal values, so a
 * config file can be committed and shared without leaking keys.
 */

const ENV_REF = /^env:[A-Za-z_][A-Za-z0-9_]*$/;

/** Shapes that real provider keys take; used only to give a sharper error message. */
const LOOKS_LIKE_KEY = /^(sk-|sk_|gdz_|AIza|xai-|gsk_|pk-lf-|sk-lf-)|^[A-Za-z0-9._-]{32,}$/;

export const secretRef = z.string().superRefine((value, ctx) => {
  if (ENV_REF.test(value)) return;
  ctx.addIssue({
    code: "custom",
    message: LOOKS_LIKE_KEY.test(value)
      ? "looks like a literal API key; secrets must be references such as env:MY_API_KEY (put the key in that environment variable)"
      : "must be a secret reference such as env:MY_API_KEY",
  });
});

/** A URL, or a reference to an environment variable holding one. */
function isHttpUrl(value: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

export const urlOrRef = z.string().refine((v) => ENV_REF.test(v) || isHttpUrl(v), {
  message: "must be an http(s) URL or a reference such as env:BASE_URL",
});

export const providerKinds = ["openai", "anthropic", "gemini"] as const;

export const providerSchema = z.strictObject({
  kind: z.enum(providerKinds),
  base_url: urlOrRef.optional(),
  api_key: secretRef.optional(),
  /** Extra headers sent upstream (e.g. OpenRouter's HTTP-Referer); values may not be secrets. */
  headers: z.record(z.string(), z.string()).optional(),
  timeout_ms: z.number().int().positive().default(120_000),
});

const priceSchema = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
});

export const modelSchema = z.strictObject({
  provider: z.string().min(1),
  family: z.string().min(1),
  /** Name the provider knows the model by, when it differs from the godotz name. */
  upstream_model: z.string().min(1).optional(),
  type: z.enum(["chat", "embedding"]).default("chat"),
  price: priceSchema,
  vision: z.boolean().default(false),
  context: z.number().int().positive().optional(),
  max_output_tokens: z.number().int().positive().default(8192),
  max_concurrency: z.number().int().positive().optional(),
  /** Requests and tokens per minute for this model, across all keys and gateway processes. */
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
});

const configBase = z.strictObject({
    gateway: z
      .strictObject({
        master_key: secretRef,
        max_body_bytes: z.number().int().positive().default(10 * 1024 * 1024),
      }),
    providers: z.record(z.string().min(1), providerSchema),
    models: z.record(z.string().min(1), modelSchema),
    routing: z
      .strictObject({
        fallbacks: z.record(z.string(), z.array(z.string())).default({}),
        vision_fallback: z.string().default("gemini-3.1-pro-low"),
        /** Role → family: a chat request (or a swarm agent) may name a role instead of a model. */
        roles: z.record(z.string().min(1), z.string().min(1)).default({}),
        /** Circuit breaker per model: open after this many failures in a row, for this long. */
        circuit: z
          .strictObject({ failure_threshold: z.number().int().positive().default(5), open_ms: z.number().int().positive().default(30_000) })
          .default({ failure_threshold: 5, open_ms: 30_000 }),
      })
      .default({ fallbacks: {}, vision_fallback: "gemini-3.1-pro-low", roles: {}, circuit: { failure_threshold: 5, open_ms: 30_000 } }),
    cache: z
      .strictObject({
        ttl_seconds: z.number().int().nonnegative().default(3600),
        /** Only cache requests that ask for deterministic sampling (temperature 0). */
        deterministic_only: z.boolean().default(true),
      })
      .default({ ttl_seconds: 3600, deterministic_only: true }),
    limits: z
      .strictObject({
        /** Requests that may wait for a model's concurrency slot before more are refused at once. */
        max_queue: z.number().int().nonnegative().default(100),
        max_wait_ms: z.number().int().nonnegative().default(10_000),
      })
      .default({ max_queue: 100, max_wait_ms: 10_000 }),
    hardcore: z.boolean().default(false),
  });

export const configSchema = configBase.superRefine((config, ctx) => {
  for (const [name, model] of Object.entries(config.models)) {
    if (!config.providers[model.provider]) {
      ctx.addIssue({
        code: "custom",
        path: ["models", name, "provider"],
        message: `unknown provider "${model.provider}" (configured: ${Object.keys(config.providers).join(", ") || "none"})`,
      });
    }
  }
  for (const [primary, chain] of Object.entries(config.routing.fallbacks)) {
    if (!config.models[primary]) {
      ctx.addIssue({ code: "custom", path: ["routing", "fallbacks", primary], message: `unknown model "${primary}"` });
    }
    chain.forEach((name, i) => {
      if (!config.models[name]) {
        ctx.addIssue({ code: "custom", path: ["routing", "fallbacks", primary, i], message: `unknown model "${name}"` });
      }
    });
  }
  checkRequestNames(config, ctx);
});

/**
 * A request's `model` may name a model, a role or a family (in that precedence), so a role or a
 * family spelled like a model would be silently shadowed: refused, as is a role whose family
 * has no chat model to route to.
 */
function checkRequestNames(config: z.infer<typeof configBase>, ctx: z.RefinementCtx): void {
  const chatFamilies = new Set(Object.values(config.models).filter((m) => m.type === "chat").map((m) => m.family));
  for (const [name, model] of Object.entries(config.models)) {
    if (config.models[model.family]) {
      ctx.addIssue({ code: "custom", path: ["models", name, "family"], message: `family "${model.family}" has the name of a model; a request for "${model.family}" would be ambiguous` });
    }
  }
  for (const [role, family] of Object.entries(config.routing.roles)) {
    if (config.models[role]) {
      ctx.addIssue({ code: "custom", path: ["routing", "roles", role], message: `role "${role}" has the name of a model; a request for "${role}" would be ambiguous` });
    } else if (!chatFamilies.has(family)) {
      ctx.addIssue({ code: "custom", path: ["routing", "roles", role], message: `role "${role}" routes to family "${family}", which no chat model has (chat families: ${[...chatFamilies].join(", ") || "none"})` });
    }
  }
}

export type GodotzConfig = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type ProviderKind = (typeof providerKinds)[number];
