import { z } from "zod";

/*
 * Subjects, streams and consumers of fleet work (FR-L1-003).
 *
 * Work lives under `godotz.work.>`, not `godotz.tasks.>`: that prefix already belongs to the task
 * DAG's lifecycle-event stream GODOTZ_TASKS (workers/events/stream.ts), and a subject can belong
 * to one JetStream stream only.
 *
 *   godotz.work.role.<role>   work for any node serving the role   (stream GODOTZ_WORK, work queue)
 *   godotz.work.node.<node>   work for one named node              (stream GODOTZ_WORK, work queue)
 *   godotz.work.dead.<task>   deliveries exhausted or unreadable   (stream GODOTZ_WORK_DEAD, kept)
 */
export const WORK_STREAM = "GODOTZ_WORK";
export const DEAD_STREAM = "GODOTZ_WORK_DEAD";
/** Captures the server's max-deliveries advisories for GODOTZ_WORK, so none is lost while no agent listens. */
export const ADVISORY_STREAM = "GODOTZ_WORK_ADVISORIES";
export const ADVISORY_CONSUMER = "dead_letter";
export const REGISTRY_BUCKET = "godotz_fleet";

export const WORK_PREFIX = "godotz.work";
export const DEAD_PREFIX = `${WORK_PREFIX}.dead`;
export const MAX_DELIVERIES_ADVISORY = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${WORK_STREAM}.*`;

/** One subject token: no dots, wildcards or spaces, so a name can never widen a subscription. */
export const token = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '-' or '_' (it becomes a NATS subject token)");

export const roleSubject = (role: string) => `${WORK_PREFIX}.role.${role}`;
export const nodeSubject = (node: string) => `${WORK_PREFIX}.node.${node}`;
export const deadSubject = (taskId: string) => `${DEAD_PREFIX}.${taskId}`;

/** Durable consumer names: one shared by every node serving a role, one per node. */
export const roleConsumer = (role: string) => `role_${role}`;
export const nodeConsumer = (node: string) => `node_${node}`;

/** Sandbox security events of one node (core NATS, best effort: the security_events table is the record). */
export const SECURITY_PREFIX = "godotz.security";
export const securitySubject = (node: string) => `${SECURITY_PREFIX}.${node}`;
