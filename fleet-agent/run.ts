import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { FleetAgent } from "./agent.ts";
import type { AgentConfig } from "./config.ts";
import type { Executor } from "./executor.ts";
import { SecurityEventRecorder, type SecurityEventSink } from "./security/recorder.ts";

export interface AgentProcessOptions {
  config: AgentConfig;
  databaseUrl: string;
  natsUrl: string;
  /**
   * Made after the database and config are known good; the CLI's is the sandbox. It is given the
   * sink that records this node's security events (security_events + godotz.security.<node>).
   */
  makeExecutor: (onSecurityEvent: SecurityEventSink) => Promise<Executor>;
  log?: (line: string) => void;
}

/**
 * Runs one fleet agent as a process: migrates, starts, and drains on SIGTERM/SIGINT (a second
 * signal exits at once). Resolves when the agent has stopped.
 */
export async function runAgentProcess(options: AgentProcessOptions): Promise<void> {
  const log = options.log ?? ((line: string) => console.error(line));
  const sql = openDatabase(options.databaseUrl, { max: Math.min(20, options.config.capacity + 4) });
  const securityEvents = new SecurityEventRecorder({ sql, nodeId: options.config.nodeId, log });
  try {
    await migrate(sql);
    const executor = await options.makeExecutor(securityEvents.sink);
    let agent: FleetAgent;
    try {
      agent = await FleetAgent.start({ config: options.config, executor, sql, natsUrl: options.natsUrl, log, securityEvents });
    } catch (error) {
      await executor.close().catch(() => {});
      throw error;
    }
    const stopped = new Promise<void>((resolve, reject) => {
      let draining = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (draining) process.exit(130);
        draining = true;
        log(`fleet-agent: ${signal}: draining (no new work; running tasks finish or are handed back)`);
        agent.drain().then(resolve, reject);
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
    await stopped;
  } finally {
    await securityEvents.flush();
    await sql.end({ timeout: 5 });
  }
}
