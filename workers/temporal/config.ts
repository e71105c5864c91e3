import { readFileSync } from "node:fs";
import { z } from "zod";
import type { TLSConfig } from "@temporalio/client";
import { TASK_QUEUE } from "./plan.ts";

/**
 * Where the Temporal cluster is. TEMPORAL_ADDRESS selects the engine: unset, runs stay on the
 * embedded LangGraph runtime; set, the workers run a Temporal worker and runs start as workflows.
 * The variable names follow Temporal's own CLI and SDK environment configuration.
 */

const flag = z.enum(["1", "true", "0", "false"]).transform((v) => v === "1" || v === "true");

export const temporalEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().trim().regex(/^[^\s:/]+(:\d{1,5})$/, "TEMPORAL_ADDRESS must be host:port, e.g. 127.0.0.1:7233"),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default("default"),
  TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default(TASK_QUEUE),
  /** Temporal Cloud API key; implies TLS. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: flag.optional(),
  /** mTLS client certificate and key (PEM files), as Temporal Cloud's certificate auth uses. */
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
});

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  apiKey?: string;
  tls?: TLSConfig | boolean;
}

export class TemporalConfigError extends Error {
  override name = "TemporalConfigError";
}

/** The cluster to use, or undefined when TEMPORAL_ADDRESS is unset (the embedded engine runs). */
export function temporalConfigFrom(env: Record<string, string | undefined> = process.env): TemporalConfig | undefined {
  if (!env.TEMPORAL_ADDRESS?.trim()) return undefined;
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith("TEMPORAL_") && v !== undefined && v !== ""));
  const parsed = temporalEnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TemporalConfigError(`${issue.path.join(".") || "Temporal settings"}: ${issue.message}`);
  }
  const e = parsed.data;
  if ((e.TEMPORAL_TLS_CLIENT_CERT_PATH === undefined) !== (e.TEMPORAL_TLS_CLIENT_KEY_PATH === undefined)) {
    throw new TemporalConfigError("set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or neither");
  }
  const read = (path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TemporalConfigError(`cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const custom: TLSConfig = {
    ...(e.TEMPORAL_TLS_CLIENT_CERT_PATH && e.TEMPORAL_TLS_CLIENT_KEY_PATH
      ? { clientCertPair: { crt: read(e.TEMPORAL_TLS_CLIENT_CERT_PATH), key: read(e.TEMPORAL_TLS_CLIENT_KEY_PATH) } }
      : {}),
    ...(e.TEMPORAL_TLS_SERVER_CA_CERT_PATH ? { serverRootCACertificate: read(e.TEMPORAL_TLS_SERVER_CA_CERT_PATH) } : {}),
    ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
  };
  const wantsTls = e.TEMPORAL_TLS ?? (e.TEMPORAL_API_KEY !== undefined || Object.keys(custom).length > 0);
  if (e.TEMPORAL_TLS === false && Object.keys(custom).length > 0) throw new TemporalConfigError("TEMPORAL_TLS=false contradicts the TEMPORAL_TLS_* files that are set");
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
    ...(wantsTls ? { tls: Object.keys(custom).length > 0 ? custom : true } : {}),
  };
}
