import { z } from "zod";

/** Per-model scripted behaviour and the call log, so tests can steer the simulated upstreams. */

export const behaviourSchema = z.strictObject({
  latencyMs: z.number().int().nonnegative().optional(),
  failStatus: z.number().int().min(400).max(599).optional(),
  /** Fail the next N requests, then succeed; absent means fail for as long as the script is set. */
  failTimes: z.number().int().nonnegative().optional(),
  chunkDelayMs: z.number().int().nonnegative().optional(),
  /** Destroy the socket after this many stream events, to simulate a dropped connection. */
  dropAfterChunks: z.number().int().nonnegative().optional(),
  /** Fixed reply text instead of the generated one. */
  reply: z.string().optional(),
});
export type Behaviour = z.infer<typeof behaviourSchema>;

export const scriptRequestSchema = z.strictObject({ model: z.string().min(1), behaviour: behaviourSchema });

export type SimProvider = "openai" | "anthropic" | "gemini";

export interface SimCall {
  provider: SimProvider;
  model: string;
  stream: boolean;
  kind: "chat" | "embeddings";
  at: number;
  /** The connection closed before the whole answer was written. */
  cutShort: boolean;
  /** SHA-256 of the request body minus `stream`/`stream_options`: the same request sent twice has the same digest. */
  digest: string;
}

/** The log is for tests; under a benchmark it must not grow without bound. */
const MAX_CALLS = 10_000;

export class SimState {
  private readonly scripts = new Map<string, { behaviour: Behaviour; failuresLeft: number | undefined }>();
  private log: SimCall[] = [];

  script(model: string, behaviour: Behaviour): void {
    this.scripts.set(model, { behaviour, failuresLeft: behaviour.failTimes });
  }

  reset(): void {
    this.scripts.clear();
    this.log = [];
  }

  behaviour(model: string): Behaviour | undefined {
    return this.scripts.get(model)?.behaviour;
  }

  /** The status to fail this request with, counting down failTimes; undefined to answer normally. */
  takeFailure(model: string): number | undefined {
    const entry = this.scripts.get(model);
    const status = entry?.behaviour.failStatus;
    if (!entry || status === undefined) return undefined;
    if (entry.failuresLeft === undefined) return status;
    if (entry.failuresLeft <= 0) return undefined;
    entry.failuresLeft -= 1;
    return status;
  }

  record(call: SimCall): void {
    if (this.log.length >= MAX_CALLS) this.log = this.log.slice(MAX_CALLS / 2);
    this.log.push(call);
  }

  calls(): SimCall[] {
    return [...this.log];
  }

  models(): string[] {
    return [...this.scripts.keys()];
  }
}
