import { Command } from "commander";
import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { natsUrlFrom } from "../workers/events/bus.ts";
import { TaskStore } from "../workers/tasks/index.ts";
import { TaskError, TaskInputError } from "../workers/tasks/errors.ts";
import {
  ensureFleetStreams, FleetError, FleetInputError, formatSecurityEvents, listSecurityEvents, loadAgentConfig, readFleet, sandboxExecutor, submitTask,
  type AgentConfig, type FleetNodeView,
} from "../fleet-agent/index.ts";
import { runAgentProcess } from "../fleet-agent/run.ts";
import { formatFleet } from "../fleet-agent/status-format.ts";
import { databaseUrl } from "./database.ts";
import { CliError } from "./errors.ts";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Fleet errors become exit codes here, once: 2 for bad input, 1 for the rest. */
async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof FleetInputError || error instanceof TaskInputError) throw new CliError(error.message, 2);
    if (error instanceof FleetError || error instanceof TaskError) throw new CliError(error.message, 1);
    throw error;
  }
}

function natsUrl(flag: string | undefined): string {
  try {
    return natsUrlFrom(flag ? { NATS_URL: flag } : process.env);
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
}

/** `godotz fleet-agent`: the per-node daemon (docs/fleet.md). Every task runs in the sandbox. */
export function fleetAgentCommand(): Command {
  return new Command("fleet-agent")
    .description("join the fleet: register this node, heartbeat, and run tasks for its roles in the sandbox (docs/fleet.md)")
    .option("--node-id <id>", "this node's id (default: $GODOTZ_FLEET_NODE_ID or the hostname)")
    .option("--roles <list>", "comma-separated agent roles this node serves")
    .option("--labels <list>", "comma-separated labels")
    .option("--capabilities <list>", "comma-separated capabilities besides those detected (e.g. vision)")
    .option("--capacity <n>", "tasks run at once (default 18)")
    .option("--heartbeat-ms <ms>", "heartbeat interval")
    .option("--ack-wait-ms <ms>", "JetStream ack wait before redelivery")
    .option("--max-deliver <n>", "deliveries before a task is dead-lettered")
    .option("--lease-grace-ms <ms>", "task DAG lease beyond a task's timeout")
    .option("--drain-timeout-ms <ms>", "on SIGTERM, how long running tasks may finish before being handed back")
    .option("--work-root <dir>", "where per-task work directories are made")
    .option("--nats-url <url>", "NATS server (default: $NATS_URL or nats://127.0.0.1:4222)")
    .option("--gateway-url <url>", "the gateway tasks may call (default: $GODOTZ_URL)")
    .action(async (o) =>
      mapped(async () => {
        const config: AgentConfig = loadAgentConfig({
          nodeId: o.nodeId, roles: o.roles, labels: o.labels, capabilities: o.capabilities, capacity: o.capacity,
          heartbeatMs: o.heartbeatMs, ackWaitMs: o.ackWaitMs, maxDeliver: o.maxDeliver, leaseGraceMs: o.leaseGraceMs,
          drainTimeoutMs: o.drainTimeoutMs, workRoot: o.workRoot,
        });
        const nats = natsUrl(o.natsUrl);
        const gatewayUrl: string | undefined = o.gatewayUrl ?? process.env.GODOTZ_URL;
        await runAgentProcess({
          config, natsUrl: nats, databaseUrl: await databaseUrl((line) => console.error(line)),
          makeExecutor: (onSecurityEvent) => sandboxExecutor({ gatewayUrl, onSecurityEvent }),
        });
      }),
    );
}

async function withDatabase<T>(fn: (store: TaskStore, sql: ReturnType<typeof openDatabase>) => Promise<T>): Promise<T> {
  const sql = openDatabase(await databaseUrl((line) => console.error(line)), { max: 2 });
  try {
    await migrate(sql);
    return await fn(new TaskStore(sql), sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `godotz fleet status|security|submit`. */
export function fleetCommand(): Command {
  const fleet = new Command("fleet").description("see the fleet and give it work");

  fleet
    .command("status")
    .description("every node: OS/arch, health, load, running tasks, last heartbeat")
    .option("--json", "print JSON")
    .action(async (o) =>
      mapped(async () => {
        const nodes: FleetNodeView[] = await withDatabase((_store, sql) => readFleet(sql));
        if (o.json) console.log(JSON.stringify(nodes, null, 2));
        else console.log(formatFleet(nodes));
      }),
    );

  fleet
    .command("security")
    .description("recent sandbox security events (a task's write outside its folder, a blocked connection, …), newest first")
    .option("--node <node>", "only this node's events")
    .option("--since <iso>", "only events at or after this ISO date or date-time")
    .option("--limit <n>", "at most this many events (default 50)")
    .option("--json", "print JSON")
    .action(async (o) =>
      mapped(async () => {
        const events = await withDatabase((_store, sql) => listSecurityEvents(sql, { node: o.node, since: o.since, limit: o.limit }));
        if (o.json) console.log(JSON.stringify(events, null, 2));
        else console.log(formatSecurityEvents(events));
      }),
    );

  fleet
    .command("submit")
    .description("create a task in the DAG and dispatch it to a role or a node")
    .requiredOption("--title <title>", "the task's title")
    .requiredOption("--command <command>", "shell command to run in the sandbox")
    .option("--role <role>", "any node serving this role runs it")
    .option("--node <node>", "only this node runs it")
    .option("--capability <cap>", "a capability the node must have (repeatable)", collect, [])
    .option("--os <os>", "required OS (linux, darwin)")
    .option("--arch <arch>", "required arch (x64, arm64)")
    .option("--timeout-ms <ms>", "the command's time limit")
    .option("--allow-host <host>", "a host the command may reach (repeatable)", collect, [])
    .option("--label <label>", "task label (repeatable)", collect, [])
    .option("--swarm <swarm>", "the task's swarm")
    .option("--priority <p>", "0-4 (or P0-P4)")
    .option("--idempotency-key <key>", "submitting again with the same key does not create a second task")
    .option("--nats-url <url>", "NATS server (default: $NATS_URL or nats://127.0.0.1:4222)")
    .option("--json", "print JSON")
    .action(async (o) =>
      mapped(async () => {
        if (!o.role === !o.node) throw new CliError("say where it runs: one of --role <role> or --node <node>", 2);
        const timeout = o.timeoutMs === undefined ? undefined : Number(o.timeoutMs);
        const url = natsUrl(o.natsUrl);
        const submitted = await withDatabase(async (store) => {
          const nc = await connect({ servers: url, timeout: 5_000 }).catch((error: unknown) => {
            throw new CliError(`cannot reach NATS at ${url}: ${(error as Error).message}`, 1);
          });
          try {
            await ensureFleetStreams(await jetstreamManager(nc));
            return await submitTask({ store, js: jetstream(nc) }, {
              task: { title: o.title, labels: o.label, swarm: o.swarm, priority: o.priority, idempotency_key: o.idempotencyKey },
              dispatch: {
                command: o.command, role: o.role, node: o.node, timeout_ms: timeout, allowed_hosts: o.allowHost,
                requirements: { capabilities: o.capability, os: o.os, arch: o.arch },
              },
            });
          } finally {
            await nc.close();
          }
        });
        if (o.json) console.log(JSON.stringify({ ...submitted.task, subject: submitted.subject, published: submitted.published }, null, 2));
        else console.log(`${submitted.task.id}  ${submitted.published ? `dispatched to ${submitted.subject}` : `already ${submitted.task.status} (not dispatched again)`}`);
      }),
    );

  return fleet;
}
