import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { REGISTRY_BUCKET } from "../names.ts";
import { nodeRecord, type NodeRecord } from "./records.ts";

/*
 * The fleet's live registry: a JetStream key-value bucket, one key per node. The bucket is a
 * stream laid out as JetStream KV defines it (KV_<bucket>, subjects $KV.<bucket>.<key>, one value
 * kept per key; see streams.ts), written and read with the JetStream client directly, so `nats kv
 * get godotz_fleet <node>` shows the same record.
 */
const STREAM = `KV_${REGISTRY_BUCKET}`;
const subject = (key: string) => `$KV.${REGISTRY_BUCKET}.${key}`;

export async function putNode(js: JetStreamClient, record: NodeRecord): Promise<void> {
  await js.publish(subject(record.id), JSON.stringify(record));
}

export async function getNode(jsm: JetStreamManager, id: string): Promise<NodeRecord | undefined> {
  const stored = await jsm.streams.getMessage(STREAM, { last_by_subj: subject(id) }).catch(() => null);
  if (!stored) return undefined;
  const parsed = nodeRecord.safeParse(stored.json());
  return parsed.success ? parsed.data : undefined;
}

/** Every node the bucket holds, skipping values that do not parse (another writer's junk is not a node). */
export async function listNodes(jsm: JetStreamManager): Promise<NodeRecord[]> {
  const info = await jsm.streams.info(STREAM, { subjects_filter: subject(">") });
  const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(subject("").length));
  const records = await Promise.all(keys.map((k) => getNode(jsm, k)));
  return records.filter((r): r is NodeRecord => r !== undefined).sort((a, b) => a.id.localeCompare(b.id));
}
