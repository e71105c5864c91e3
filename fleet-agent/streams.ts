import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type ConsumerConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ADVISORY_CONSUMER, ADVISORY_STREAM, DEAD_PREFIX, DEAD_STREAM, MAX_DELIVERIES_ADVISORY, REGISTRY_BUCKET, WORK_PREFIX } from "./names.ts";

const DAY = 24 * 3600 * 1000;

/**
 * The streams the fleet needs, created or brought to spec by every agent at start (idempotent):
 * - GODOTZ_WORK: work-queue retention, so each task message goes to one consumer and leaves the
 *   stream once acked; file storage, so pending work survives a NATS restart.
 * - GODOTZ_WORK_DEAD: dead letters kept 30 days for an operator to read.
 * - GODOTZ_WORK_ADVISORIES: the server's max-deliveries advisories, held until an agent handles them.
 * - KV_godotz_fleet: the registry, a JetStream key-value bucket (one value per node).
 */
type FleetStreamConfig = Partial<StreamConfig> & { name: string };

export function fleetStreams(): FleetStreamConfig[] {
  const common = { storage: StorageType.File, num_replicas: 1 } as const;
  return [
    { ...common, name: "GODOTZ_WORK", subjects: [`${WORK_PREFIX}.role.>`, `${WORK_PREFIX}.node.>`], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.New, max_age: nanos(7 * DAY), duplicate_window: nanos(10 * 60 * 1000) },
    { ...common, name: DEAD_STREAM, subjects: [`${DEAD_PREFIX}.>`], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_age: nanos(30 * DAY) },
    { ...common, name: ADVISORY_STREAM, subjects: [MAX_DELIVERIES_ADVISORY], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.Old, max_age: nanos(7 * DAY) },
    // The layout of a JetStream KV bucket (what `nats kv` and the KV clients create and read).
    { ...common, name: `KV_${REGISTRY_BUCKET}`, subjects: [`$KV.${REGISTRY_BUCKET}.>`], retention: RetentionPolicy.Limits, discard: DiscardPolicy.New, max_msgs_per_subject: 1, allow_rollup_hdrs: true, deny_delete: true, allow_direct: true, max_age: nanos(30 * DAY) },
  ];
}

async function ensureStreamConfig(jsm: JetStreamManager, config: FleetStreamConfig): Promise<void> {
  const existing = await jsm.streams.info(config.name).catch((error: unknown) => {
    if ((error as { code?: number }).code === 10059 || /not found/i.test((error as Error).message)) return undefined;
    throw error;
  });
  if (!existing) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (error) {
      if (!(await jsm.streams.info(config.name).catch(() => undefined))) throw error; // lost a race: fine
    }
  }
  // Retention and storage cannot change after creation; the limits may.
  const { retention: _r, storage: _s, ...changeable } = config;
  const current = existing?.config ?? (await jsm.streams.info(config.name)).config;
  const differs = Object.entries(changeable).some(([k, v]) => JSON.stringify(current[k as keyof StreamConfig]) !== JSON.stringify(v));
  if (differs) await jsm.streams.update(config.name, changeable);
}

export async function ensureFleetStreams(jsm: JetStreamManager): Promise<void> {
  for (const config of fleetStreams()) await ensureStreamConfig(jsm, config);
}

export interface WorkConsumerSpec {
  name: string;
  filter: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/**
 * A durable pull consumer on GODOTZ_WORK. A work-queue stream refuses two consumers whose filters
 * overlap, so there is exactly one per role (shared by every node serving it) and one per node.
 */
export async function ensureWorkConsumer(jsm: JetStreamManager, spec: WorkConsumerSpec): Promise<void> {
  const config: Partial<ConsumerConfig> = {
    durable_name: spec.name,
    filter_subject: spec.filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: 10_000,
  };
  await ensureConsumer(jsm, "GODOTZ_WORK", config);
}

export async function ensureAdvisoryConsumer(jsm: JetStreamManager): Promise<void> {
  await ensureConsumer(jsm, ADVISORY_STREAM, { durable_name: ADVISORY_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000), max_deliver: -1, max_ack_pending: 1000 });
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig>): Promise<void> {
  const existing = await jsm.consumers.info(stream, config.durable_name!).catch(() => undefined);
  if (!existing) {
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch (error) {
      if (!(await jsm.consumers.info(stream, config.durable_name!).catch(() => undefined))) throw error;
    }
  }
  const current = existing?.config ?? (await jsm.consumers.info(stream, config.durable_name!)).config;
  // The last agent to start sets the shared consumer's ack wait and deliveries (documented).
  if (current.ack_wait !== config.ack_wait || current.max_deliver !== config.max_deliver) {
    await jsm.consumers.update(stream, config.durable_name!, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
  }
}
