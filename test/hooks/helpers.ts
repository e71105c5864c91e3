import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { freePort, waitFor } from "../helpers/wait.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { swarmSchema } from "../../workers/swarm/spec/schema.ts";
import type { LoadedSwarm } from "../../workers/swarm/spec/load.ts";
import { RUN_REQUEST_STREAM } from "../../workers/swarm/dispatch/index.ts";
import type { EventStreamSpec } from "../../workers/events/index.ts";

/** A run-request stream of this test's own (name and subjects), so parallel runs and GODOTZ_RUNS never meet. */
export function testRunStream(label: string): EventStreamSpec {
  const id = `${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  return { ...RUN_REQUEST_STREAM, name: `GODOTZ_RUNS_TEST_${label}_${id}`, subjectPrefix: `godotz.test${id}.runs` };
}

/** A loaded swarm as the loader returns it, without files: supervisor and one worker, the triggers given. */
export function loadedSwarm(name: string, triggers: unknown[] = []): LoadedSwarm {
  const spec = swarmSchema.parse({
    name,
    version: "3",
    agents: { lead: { type: "supervisor", family: "claude" }, writer: { type: "worker", family: "glm", instructions: "Write." } },
    topology: { supervisor: "lead", workers: ["writer"] },
    triggers,
  });
  return { spec, file: `${name}.yaml`, subswarms: {}, skills: {} };
}


/**
 * A NATS server of our own (JetStream on, storage in a temp folder) on a loopback port, which
 * a test can stop and start again on the same port with the same storage: NATS going away and coming back.
 */
export class OwnNatsServer {
  private child: ChildProcess | undefined;
  private output = "";

  private constructor(readonly port: number, readonly storeDir: string) {}

  static async start(): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(await freePort(), await mkdtemp(join(tmpdir(), "godotz-nats-")));
    try {
      await server.up();
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    // The server binary from PATH (as CI installs it), or NATS_SERVER_BIN.
    const child = spawn(process.env.NATS_SERVER_BIN ?? "nats-server", ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.once("error", (error) => (this.output += `cannot start nats-server: ${error.message}\n`));
    child.stdout!.on("data", (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (this.output += d.toString()));
    await waitFor(`nats-server on port ${this.port}`, () => {
      if (child.exitCode !== null || /cannot start/.test(this.output)) throw new Error(`nats-server did not start (${child.exitCode}):\n${this.output}`);
      return /Server is ready/.test(this.output);
    }, 15_000);
  }

  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    this.output = "";
  }

  async close(): Promise<void> {
    await this.down();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

export { waitFor, freePort };
