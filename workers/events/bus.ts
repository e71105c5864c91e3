import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { z } from "zod";
import { ensureStream, type EventStreamSpec } from "./stream.ts";
import { InvalidEventError } from "./schema.ts";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

const natsUrl = z.string().trim().regex(/^(nats|tls|wss?):\/\/\S+$/, "NATS_URL must look like nats://host:4222");

/** NATS_URL from the environment, validated, or the loopback default. */
export function natsUrlFrom(env: Record<string, string | undefined> = process.env): string {
  const parsed = natsUrl.safeParse(env.NATS_URL || DEFAULT_NATS_URL);
  if (!parsed.success) throw new Error(parsed.error.issues[0]!.message);
  return parsed.data;
}

/** A message read back from a stream, with the event it carried. */
export interface Received<T> {
  subject: string;
  /** Its sequence number in the stream. */
  seq: number;
  /** The publisher's dedup id (`Nats-Msg-Id`). */
  msgID: string | undefined;
  event: T;
}

export interface ConsumeOptions<T> {
  stream: string;
  /** A subject filter such as `godotz.tasks.my-swarm.>`. */
  filter: string;
  schema: z.ZodType<T>;
  /** "all": from the first message the stream still holds; "new": only what arrives from now. */
  deliver?: "all" | "new";
}

/**
 * One NATS connection and the JetStream handles over it. Reconnects on its own (the client's
 * default); a publish while the server is away fails after `publishTimeoutMs` instead of hanging.
 */
export class EventBus {
  private constructor(readonly nc: NatsConnection, readonly js: JetStreamClient, readonly jsm: JetStreamManager) {}

  static async connect(options: { url?: string; name?: string; publishTimeoutMs?: number; connectTimeoutMs?: number } = {}): Promise<EventBus> {
    const url = options.url ?? natsUrlFrom();
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: url, name: options.name ?? "godotz", timeout: options.connectTimeoutMs ?? 5000, maxReconnectAttempts: -1 });
    } catch (error) {
      throw new Error(`cannot reach NATS at ${url}: ${(error as Error).message}`, { cause: error });
    }
    const timeout = options.publishTimeoutMs ?? 5000;
    return new EventBus(nc, jetstream(nc, { timeout }), await jetstreamManager(nc, { timeout }));
  }

  ensureStream = (spec: EventStreamSpec) => ensureStream(this.jsm, spec);

  /** Publishes JSON and waits for the stream's ack; a msgID seen within the dedup window comes back `duplicate`. */
  async publish(subject: string, data: unknown, msgID: string): Promise<{ seq: number; duplicate: boolean }> {
    const ack = await this.js.publish(subject, JSON.stringify(data), { msgID });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Follows a stream through an ordered (ephemeral, client-driven) consumer, for `events tail` and
   * tests. Messages that do not parse end the iteration with an InvalidEventError: a reader
   * should not silently skip what it cannot read.
   */
  async *consume<T>(options: ConsumeOptions<T>): AsyncGenerator<Received<T>> {
    const consumer = await this.js.consumers.get(options.stream, {
      filter_subjects: options.filter,
      deliver_policy: options.deliver === "new" ? DeliverPolicy.New : DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    try {
      for await (const m of messages) yield decode(m, options.schema);
    } finally {
      await messages.close();
    }
  }

  /** Everything the stream holds now under `filter`, in stream order. */
  async read<T>(options: Omit<ConsumeOptions<T>, "deliver">): Promise<Received<T>[]> {
    const info = await this.jsm.streams.info(options.stream, { subjects_filter: options.filter });
    const held = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
    const out: Received<T>[] = [];
    if (held === 0) return out;
    for await (const received of this.consume({ ...options, deliver: "all" })) {
      out.push(received);
      if (out.length >= held) break;
    }
    return out;
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

function decode<T>(m: JsMsg, schema: z.ZodType<T>): Received<T> {
  let body: unknown;
  try {
    body = m.json();
  } catch {
    body = undefined;
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InvalidEventError(`message ${m.seq} on ${m.subject}`, parsed.error);
  return { subject: m.subject, seq: m.seq, msgID: m.headers?.get("Nats-Msg-Id") || undefined, event: parsed.data };
}
