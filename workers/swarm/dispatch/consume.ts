import { setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { EventBus } from "../../events/bus.ts";
import { InvalidEventError } from "../../events/schema.ts";
import type { EventStreamSpec } from "../../events/stream.ts";
import { runRequest, runRequestSubject, type RunTrigger } from "./schema.ts";
import { ensureRunStream, RUN_REQUEST_STREAM } from "./stream.ts";

/** A run request as the handler sees it. */
export interface RunRequestDelivery {
  runId: string;
  swarm: string;
  trigger: RunTrigger;
  requestedAt: string;
  /** 1 on the first delivery; more after a handler threw, or a worker died holding it. */
  deliveries: number;
}

export interface ConsumeRunRequestsOptions {
  /** The durable consumer's name; every worker of a pool uses the same one and they share the queue. */
  durable: string;
  /**
   * Executes the run. Resolving acknowledges the request (it leaves the queue); throwing asks for
   * it again later. A request can arrive more than once (a worker died after finishing, a republish
   * beyond the duplicate window), so the handler claims the run (queued → running) before working.
   */
  handler: (request: RunRequestDelivery) => Promise<void>;
  /** Aborting stops taking requests; the call returns once the handlers running then have finished. */
  signal: AbortSignal;
  /** How long the server waits for an ack before redelivering (default 30 s); in-progress acks are sent every third of it. */
  ackWaitMs?: number;
  /** Requests handled at once by this process (default 1). */
  concurrency?: number;
  /** After this many deliveries whose handler threw, the request is terminated (default 5). */
  maxDeliveries?: number;
  /** Delay before a failed request comes back; doubles with each delivery, at most a minute (default 1 s). */
  retryDelayMs?: number;
  /** How long one pull waits for a request (default 2 s, at least 1 s): also how soon an abort is noticed. */
  pollMs?: number;
  stream?: EventStreamSpec;
  log?: (line: string) => void;
}

export interface ConsumeSummary {
  handled: number;
  /** Handler failures that were sent back for another try. */
  retried: number;
  /** Malformed requests, and requests whose handler failed `maxDeliveries` times. */
  terminated: number;
}

/**
 * Takes run requests from the GODOTZ_RUNS work queue through a durable pull consumer (created or
 * brought to these settings here, with the stream), handing each to `handler`. Never throws for a
 * bad message or a lost connection: a malformed request is terminated with its reason logged, and
 * pulling resumes once NATS is back.
 */
export async function consumeRunRequests(bus: EventBus, options: ConsumeRunRequestsOptions): Promise<ConsumeSummary> {
  const spec = options.stream ?? RUN_REQUEST_STREAM;
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const pollMs = Math.max(1000, options.pollMs ?? 2000);
  const log = options.log ?? ((line: string) => console.error(`run requests: ${line}`));
  const summary: ConsumeSummary = { handled: 0, retried: 0, terminated: 0 };

  await ensureRunStream(bus.jsm, spec);
  await ensureConsumer(bus, spec, options.durable, ackWaitMs);
  const consumer = await bus.js.consumers.get(spec.name, options.durable);
  const inFlight = new Set<Promise<void>>();
  const abandon = abortedPromise(options.signal);

  const handle = async (m: JsMsg) => {
    const request = decode(m, spec);
    if (request instanceof Error) {
      // The reason is logged here, not sent with +TERM: servers before 2.10.4 would not read
      // "+TERM <reason>" as a termination, and the message would come back.
      settle(() => m.term());
      summary.terminated++;
      log(`terminated message ${m.seq}: ${request.message}`);
      return;
    }
    // In-progress acks restart the server's ack timer, so a run longer than ackWaitMs is not handed
    // to a second worker while this one is still on it.
    const beat = setInterval(() => settle(() => m.working()), Math.max(50, Math.floor(ackWaitMs / 3)));
    try {
      await Promise.resolve().then(() => options.handler(request));
      clearInterval(beat);
      summary.handled++;
      const confirmed = await Promise.resolve().then(() => m.ackAck()).catch(() => false);
      if (!confirmed) log(`run ${request.runId}: the ack was not confirmed; the request may come back`);
    } catch (error) {
      clearInterval(beat);
      const reason = (error as Error)?.message ?? String(error);
      if (request.deliveries >= (options.maxDeliveries ?? 5)) {
        settle(() => m.term());
        summary.terminated++;
        log(`run ${request.runId}: handler failed ${request.deliveries} times, giving up: ${reason}`);
      } else {
        const delay = Math.min(60_000, (options.retryDelayMs ?? 1000) * 2 ** (request.deliveries - 1));
        settle(() => m.nak(delay));
        summary.retried++;
        log(`run ${request.runId}: handler failed (delivery ${request.deliveries}), again in ${delay} ms: ${reason}`);
      }
    }
  };

  let failures = 0;
  while (!options.signal.aborted) {
    if (inFlight.size >= concurrency) {
      await Promise.race([...inFlight, abandon]);
      continue;
    }
    let m: JsMsg | null;
    try {
      m = await consumer.next({ expires: pollMs });
      failures = 0;
    } catch (error) {
      // NATS away, or the stream or consumer deleted under us: wait and pull again.
      failures++;
      log(`pulling failed: ${(error as Error).message}`);
      await sleep(Math.min(5000, 250 * 2 ** Math.min(failures, 5)), undefined, { signal: options.signal }).catch(() => {});
      continue;
    }
    if (!m) continue;
    if (options.signal.aborted) {
      settle(() => m.nak()); // pulled as we were told to stop: straight back to the queue for another worker
      break;
    }
    const running: Promise<void> = handle(m).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }
  await Promise.all(inFlight);
  return summary;
}

/**
 * Acks, naks and in-progress acks are fire-and-forget publishes, which throw once the connection
 * is closed. The server then redelivers after the ack wait, which is the right outcome; a throw
 * here (or in a timer) must not take the consumer down.
 */
function settle(send: () => void): void {
  try {
    send();
  } catch {
    // the request comes back after the ack wait
  }
}

function decode(m: JsMsg, spec: EventStreamSpec): RunRequestDelivery | Error {
  let body: unknown;
  try {
    body = m.json();
  } catch {
    return new Error("not JSON");
  }
  const parsed = runRequest.safeParse(body);
  if (!parsed.success) return new InvalidEventError("run request", parsed.error);
  const { run_id, swarm, trigger, requested_at } = parsed.data;
  if (m.subject !== runRequestSubject(spec.subjectPrefix, swarm)) return new Error(`request for swarm ${swarm} arrived on ${m.subject}`);
  return { runId: run_id, swarm, trigger, requestedAt: requested_at, deliveries: m.info.deliveryCount };
}

/** Creates the durable consumer, or brings its ack wait to the one asked for. */
async function ensureConsumer(bus: EventBus, spec: EventStreamSpec, durable: string, ackWaitMs: number): Promise<void> {
  const info = await bus.jsm.consumers.info(spec.name, durable).catch((error: unknown) => {
    if ((error as { code?: number }).code === 10014) return undefined; // consumer not found
    throw error;
  });
  if (!info) {
    try {
      await bus.jsm.consumers.add(spec.name, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ackWaitMs),
        filter_subject: `${spec.subjectPrefix}.>`,
      });
      return;
    } catch (error) {
      // A second worker of the pool created it first: fine, as long as it exists now.
      if (!(await bus.jsm.consumers.info(spec.name, durable).catch(() => undefined))) throw error;
    }
  }
  if (info?.config.ack_wait !== nanos(ackWaitMs)) await bus.jsm.consumers.update(spec.name, durable, { ack_wait: nanos(ackWaitMs) });
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
