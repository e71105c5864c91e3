import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Sql } from "../../shared/db/connect.ts";
import type { GodotzConfig } from "../../shared/config/schema.ts";
import { resolveOptionalRef, type Env } from "../../shared/config/secrets.ts";
import { payloadTooLarge } from "../errors.ts";
import { triggerSchema } from "../../workers/swarm/spec/schema.ts";
import { findDeployedSwarm } from "../../workers/swarm/dispatch/registry.ts";
import { insertRunRequest } from "../../workers/swarm/dispatch/request.ts";
import {
  SIGNATURE_HEADER, TOLERANCE_SECONDS, deliveryDigest, parseSignatureHeader, signedContent, verifySignatures,
} from "./signature.ts";
import {
  hookNotFound, hookSecretMissing, invalidHookBody, invalidSignature, malformedSignature, missingSignature, replayedDelivery, staleSignature,
} from "./errors.ts";

/** What webhooks need from the entry point: Postgres, and the environment `env:NAME` secrets resolve in. */
export interface WebhookDeps {
  sql: Sql;
  /** process.env (or the gateway's env) on Node, the string bindings on a Worker. */
  env: Env;
}

/** A run's input is text; a delivery larger than this is refused before it is read (413). */
export const WEBHOOK_MAX_BODY_BYTES = 256 * 1024;

/**
 * The delivery body. `delivery_id` is the sender's own id for the delivery: it is kept with the
 * delivery, and it lets a sender send the same input twice within a second as two deliveries
 * (otherwise the same timestamp and body are one delivery, and the second is a replay).
 */
export const hookBody = z.strictObject({
  input: z.string().min(1, "must not be empty").refine((s) => !s.includes("\u0000"), "must not contain NUL characters"),
  delivery_id: z.string().min(1).max(200).optional(),
});

const SWARM_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const deployedTriggers = z.looseObject({ spec: z.looseObject({ triggers: z.array(triggerSchema).default([]) }) });

/**
 * `POST /hooks/:swarm`: a signed delivery starts a run of a deployed swarm. The run and its
 * hand-off to the workers are written to Postgres in one transaction with the delivery (see
 * workers/swarm/dispatch); the edge never talks to NATS, so this works the same from a Worker.
 * Answers 202 with the run id at once; the run itself happens in the workers.
 */
export function hooksRoutes(deps: { config: GodotzConfig; hooks?: WebhookDeps; log: (line: string) => void }): Hono {
  const app = new Hono();
  const limit = Math.min(WEBHOOK_MAX_BODY_BYTES, deps.config.gateway.max_body_bytes);
  const sizeLimit = bodyLimit({ maxSize: limit, onError: () => { throw payloadTooLarge(limit); } });

  app.post("/:swarm", sizeLimit, async (c) => {
    const name = c.req.param("swarm");
    const hooks = deps.hooks;
    if (!hooks || !SWARM_NAME.test(name)) throw hookNotFound(name);
    const swarm = await findDeployedSwarm(hooks.sql, name);
    if (!swarm) throw hookNotFound(name);
    const secrets = webhookSecrets(swarm.spec, hooks.env, name, deps.log);

    const header = c.req.header(SIGNATURE_HEADER);
    if (header === undefined) throw missingSignature(SIGNATURE_HEADER);
    const signature = parseSignatureHeader(header);
    if (signature instanceof Error) throw malformedSignature(SIGNATURE_HEADER, signature.message);
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const content = signedContent(signature.timestamp, raw);
    if (!(await verifySignatures(secrets, signature, content))) throw invalidSignature();
    const nowMs = Date.now();
    if (Math.abs(nowMs / 1000 - signature.timestamp) > TOLERANCE_SECONDS) throw staleSignature(TOLERANCE_SECONDS);

    // Only a signed body is read, so an unsigned caller learns nothing of its shape.
    const body = parseBody(raw);
    const digest = await deliveryDigest(content);
    const expiresAt = new Date((signature.timestamp + TOLERANCE_SECONDS) * 1000);
    const { runId } = await hooks.sql.begin(async (tx) => {
      const run = await insertRunRequest(tx, { loaded: swarm.spec, input: body.input, trigger: "webhook" });
      // A concurrent copy of this delivery waits on the key here until the first commits.
      const [recorded] = await tx`
        INSERT INTO hook_deliveries (swarm, digest, signed_at, expires_at, delivery_id, run_id)
        VALUES (${name}, ${digest}, ${new Date(signature.timestamp * 1000)}, ${expiresAt}, ${body.delivery_id ?? null}, ${run.runId})
        ON CONFLICT (swarm, digest) DO NOTHING RETURNING digest`;
      // Throwing rolls the transaction back: a replay records no run.
      if (!recorded) throw replayedDelivery();
      return run;
    });
    // Deliveries past their window are refused as stale whatever the table says, so their rows can
    // go. Best effort: a failed prune is retried by the next delivery.
    await hooks.sql`DELETE FROM hook_deliveries WHERE expires_at < ${new Date(nowMs)}`.catch(() => {});
    return c.json({ run_id: runId, swarm: name, status: "queued" as const }, 202);
  });

  return app;
}

/** The secrets of the swarm's webhook triggers that are set; several triggers mean several accepted secrets. */
function webhookSecrets(spec: unknown, env: Env, swarm: string, log: (line: string) => void): string[] {
  const parsed = deployedTriggers.safeParse(spec);
  if (!parsed.success) {
    log(`godotz webhooks: the deployed spec of swarm ${swarm} has unreadable triggers; deploy it again`);
    throw hookSecretMissing(swarm);
  }
  const refs = parsed.data.spec.triggers.flatMap((t) => ("webhook" in t ? [t.webhook.secret] : []));
  if (refs.length === 0) throw hookNotFound(swarm);
  const secrets = refs.map((ref) => resolveOptionalRef(ref, env)).filter((s): s is string => s !== undefined);
  if (secrets.length === 0) {
    log(`godotz webhooks: swarm ${swarm} has a webhook but ${refs.join(", ")} ${refs.length > 1 ? "are" : "is"} not set`);
    throw hookSecretMissing(swarm);
  }
  return secrets;
}

function parseBody(raw: Uint8Array): z.output<typeof hookBody> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw));
  } catch {
    throw invalidHookBody("The body is not valid JSON (UTF-8)");
  }
  const parsed = hookBody.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join(".");
    throw invalidHookBody(`Invalid body${path ? ` at ${path}` : ""}: ${issue.message}`, path || null);
  }
  return parsed.data;
}
