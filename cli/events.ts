import { Command, Option } from "commander";
import { EventBus } from "../workers/events/bus.ts";
import { runEvent, runEventFilter, type RunEvent } from "../workers/events/runs.ts";
import { RUN_EVENT_STREAM } from "../workers/events/stream.ts";
import { namespacedStreams } from "../workers/swarm/worker.ts";
import { CliError } from "./errors.ts";

/** One event as a line for people. */
export function formatRunEvent(e: RunEvent): string {
  const where = e.step === null ? "run" : `step ${e.step}${e.agent ? ` ${e.agent}` : ""}`;
  const extra = [
    e.model,
    e.tokens !== undefined ? `${e.tokens} tokens` : undefined,
    e.cost_usd !== undefined ? `$${e.cost_usd.toFixed(6)}` : undefined,
    e.attempt !== undefined && e.type === "retrying" ? `attempt ${e.attempt}` : undefined,
    e.error,
  ].filter(Boolean);
  return `${e.at}  ${e.swarm}  ${e.run_id}  ${where}  ${e.type}${extra.length ? `  (${extra.join(", ")})` : ""}`;
}

export function eventsCommand(): Command {
  const events = new Command("events").description("swarm run and step events on NATS JetStream (GODOTZ_EVENTS)");
  events
    .command("tail")
    .description("follow run and step events as they happen (Ctrl-C to stop)")
    .option("--swarm <name>", "only this swarm's runs")
    .option("--run <run>", "only this run")
    .option("--all", "start from the oldest event the stream keeps instead of from now")
    .option("--json", "one JSON event per line")
    .addOption(new Option("--count <n>", "stop after this many events").argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CliError("--count must be a whole number ≥ 1", 2);
      return n;
    }))
    .addOption(new Option("--streams-namespace <ns>", "the streams of a namespaced worker").env("GODOTZ_STREAMS_NAMESPACE").hideHelp())
    .action(async (o: { swarm?: string; run?: string; all?: boolean; json?: boolean; count?: number; streamsNamespace?: string }) => {
      if (o.run !== undefined && !/^run_[0-9a-z]{10,40}$/.test(o.run)) throw new CliError(`"${o.run}" is not a run id`, 2);
      let spec = RUN_EVENT_STREAM;
      try {
        if (o.streamsNamespace) spec = namespacedStreams(o.streamsNamespace).events;
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      const bus = await EventBus.connect({ name: "godotz-events-tail" }).catch((error: Error) => {
        throw new CliError(error.message);
      });
      const stop = () => void bus.close();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        await bus.ensureStream(spec);
        let seen = 0;
        const filter = runEventFilter(spec.subjectPrefix, { swarm: o.swarm, run: o.run });
        for await (const received of bus.consume({ stream: spec.name, filter, schema: runEvent, deliver: o.all ? "all" : "new" })) {
          console.log(o.json ? JSON.stringify(received.event) : formatRunEvent(received.event));
          if (o.count !== undefined && ++seen >= o.count) break;
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await bus.close();
      }
    });
  return events;
}
