import type { RunnableConfig } from "@langchain/core/runnables";
import { BaseCheckpointSaver, type CheckpointTuple } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";

/**
 * LangGraph's Postgres checkpointer for a database, its tables created. setup() runs its own
 * CREATE TABLE IF NOT EXISTS migrations, which two processes starting together (a worker and
 * `swarm run`) can race on; the loser of such a race simply tries again.
 */
export async function openCheckpointer(databaseUrl: string): Promise<PostgresSaver> {
  const saver = PostgresSaver.fromConnString(databaseUrl);
  for (let attempt = 1; ; attempt++) {
    try {
      await saver.setup();
      return saver;
    } catch (error) {
      if (attempt >= 3) {
        await saver.end().catch(() => {});
        throw new Error(`cannot set up the LangGraph checkpoint tables: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * LangGraph's checkpointer as one execution of a run sees it. The step tasks, not checkpoints,
 * are a run's exactly-once record (docs/swarm-runtime.md); a checkpoint only lets a resumed
 * execution skip replaying steps from their tasks. Two reads and one write that cost queries and
 * served no one are answered here instead:
 *
 * - A run's first execution (`fresh`) has no checkpoint yet: only its own executions write them,
 *   and its lease keeps other workers out. Until this execution writes to the thread, a read of
 *   it answers "none" without a query (LangGraph reads the thread as the graph starts).
 * - Once the run's graph is ending (`ending()`: its supervisor has decided to finish), what
 *   LangGraph writes as it exits is held in memory, not written: the run is about to be recorded
 *   as finished, and nothing reads a finished run's checkpoints. Reads of the thread are answered
 *   from what is held, so the executor's read of the final state costs no query either. Should the
 *   process die before the run is recorded, the run resumes from the last checkpoint written (or
 *   its start) and its finished steps answer from their tasks, as after any crash.
 *
 * Everything else goes to the checkpointer it wraps.
 */
export class ExecutionSaver extends BaseCheckpointSaver {
  private wroteThread = false;
  private held?: CheckpointTuple;

  constructor(
    private readonly inner: BaseCheckpointSaver,
    private readonly threadId: string,
    private readonly options: { fresh: boolean; ending: () => boolean },
  ) {
    super(inner.serde);
  }

  /** Whether this execution wrote anything of the run's thread to the wrapped checkpointer. */
  get wrote(): boolean {
    return this.wroteThread;
  }

  private ours(config: RunnableConfig): boolean {
    return config.configurable?.thread_id === this.threadId;
  }

  /** The thread has nothing in the wrapped checkpointer that this execution could need. */
  private empty(config: RunnableConfig): boolean {
    return this.ours(config) && this.options.fresh && !this.wroteThread;
  }

  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const id = config.configurable?.checkpoint_id;
    if (this.held && this.ours(config) && (id === undefined || id === this.held.checkpoint.id)) return Promise.resolve(this.held);
    return this.empty(config) ? Promise.resolve(undefined) : this.inner.getTuple(config);
  }

  async *list(...[config, options]: Parameters<BaseCheckpointSaver["list"]>): AsyncGenerator<CheckpointTuple> {
    // Newest first, as LangGraph lists them: the held checkpoint is the newest of the thread, and
    // is not among those listed from before another one.
    let limit = options?.limit;
    if (this.held && this.ours(config) && !options?.before) {
      yield this.held;
      if (limit !== undefined && --limit <= 0) return;
    }
    if (this.empty(config)) return;
    yield* this.inner.list(config, { ...options, ...(limit !== undefined ? { limit } : {}) });
  }

  put(...args: Parameters<BaseCheckpointSaver["put"]>): Promise<RunnableConfig> {
    const [config, checkpoint, metadata] = args;
    if (!this.ours(config) || !this.options.ending()) {
      if (this.ours(config)) this.wroteThread = true;
      return this.inner.put(...args);
    }
    const at = (checkpointId: string) => ({ configurable: { thread_id: this.threadId, checkpoint_ns: config.configurable?.checkpoint_ns ?? "", checkpoint_id: checkpointId } });
    const parent = config.configurable?.checkpoint_id as string | undefined;
    this.held = { config: at(checkpoint.id), checkpoint, metadata, ...(parent ? { parentConfig: at(parent) } : {}), pendingWrites: [] };
    return Promise.resolve(this.held.config);
  }

  putWrites(...args: Parameters<BaseCheckpointSaver["putWrites"]>): Promise<void> {
    const [config, writes, taskId] = args;
    if (!this.ours(config) || !this.options.ending()) {
      if (this.ours(config)) this.wroteThread = true;
      return this.inner.putWrites(...args);
    }
    // Writes of an ending graph are no more needed than its checkpoint; kept with it for reads.
    if (this.held && config.configurable?.checkpoint_id === this.held.checkpoint.id) {
      this.held.pendingWrites!.push(...writes.map(([channel, value]) => [taskId, channel, value] as [string, string, unknown]));
    }
    return Promise.resolve();
  }

  deleteThread(threadId: string): Promise<void> {
    return this.inner.deleteThread(threadId);
  }

  override getNextVersion(current: number | undefined): number {
    return this.inner.getNextVersion(current);
  }
}
