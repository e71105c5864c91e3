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
