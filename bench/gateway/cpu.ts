// CPU time of a process from /proc (Linux), for the per-request CPU a benchmark log line reports:
// steadier than a tail latency on a shared machine, so small changes show in it.
import { readFileSync } from "node:fs";
import { Redis as IORedis } from "ioredis";

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux this runs on

interface Cpu {
  user: number;
  system: number;
  /** The main thread's user + system: the event loop, without V8's GC and compiler threads. */
  main: number;
}

/** CPU of `pid` so far, ms; undefined where /proc cannot tell. */
export function cpuMs(pid: number | undefined): Cpu | undefined {
  if (!pid) return undefined;
  try {
    const [user, system] = ticks(`/proc/${pid}/stat`);
    const [mainUser, mainSystem] = ticks(`/proc/${pid}/task/${pid}/stat`);
    return { user, system, main: mainUser + mainSystem };
  } catch {
    return undefined;
  }
}

// Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
function ticks(file: string): [number, number] {
  const fields = readFileSync(file, "utf8").split(") ")[1]!.split(" ");
  return [(Number(fields[11]) * 1000) / TICKS_PER_SECOND, (Number(fields[12]) * 1000) / TICKS_PER_SECOND];
}

/** "<total> µs (kernel <system>, main thread <main>)" per request between two readings, or "?". */
export function cpuPerRequest(before: Cpu | undefined, after: Cpu | undefined, requests: number): string {
  if (!before || !after || requests === 0) return "?";
  const us = (ms: number) => ((ms * 1000) / requests).toFixed(0);
  return `${us(after.user - before.user + after.system - before.system)} µs (kernel ${us(after.system - before.system)}, main thread ${us(after.main - before.main)})`;
}

/** The Redis server's own pid, when it runs on this machine (INFO server). */
export async function redisPid(url: string): Promise<number | undefined> {
  const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const info = await client.info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}
