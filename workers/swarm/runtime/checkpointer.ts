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
 * The checkpointer of a run taken for the first time. Such a run has no checkpoint yet: only its
 * own executions write them (with "exit" durability, when an execution stops), and the run's
 * lease keeps other workers out meanwhile. So until this execution writes to the thread, a read
 * of it answers "none" without asking the database. LangGraph reads the thread's checkpoint as
 * the graph starts, which made a query of several joins part of every run's first step.
 * Everything else, and every read once anything was written, goes to the checkpointer it wraps.
 */
export class FreshThreadSaver extends BaseCheckpointSaver {
  private written = false;

  constructor(
    private readonly inner: BaseCheckpointSaver,
    private readonly threadId: string,
  ) {
    super(inner.serde);
  }

  private fresh(config: RunnableConfig): boolean {
    return !this.written && config.configurable?.thread_id === this.threadId;
  }

  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    return this.fresh(config) ? Promise.resolve(undefined) : this.inner.getTuple(config);
  }

  async *list(...[config, options]: Parameters<BaseCheckpointSaver["list"]>): AsyncGenerator<CheckpointTuple> {
    if (this.fresh(config)) return;
    yield* this.inner.list(config, options);
  }

  put(...args: Parameters<BaseCheckpointSaver["put"]>): Promise<RunnableConfig> {
    this.written = true;
    return this.inner.put(...args);
  }

  putWrites(...args: Parameters<BaseCheckpointSaver["putWrites"]>): Promise<void> {
    this.written = true;
    return this.inner.putWrites(...args);
  }

  deleteThread(threadId: string): Promise<void> {
    return this.inner.deleteThread(threadId);
  }

  override getNextVersion(current: number | undefined): number {
    return this.inner.getNextVersion(current);
  }
}
