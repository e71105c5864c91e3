import type { Cron } from "croner";
import type { Sql } from "../../../shared/db/connect.ts";
import { claimTick, type ClaimOutcome } from "./claim.ts";
import { CronExpressionError, latestTick, parseCron } from "./cron.ts";
import { scheduleCrons } from "./triggers.ts";

export interface SwarmSchedulerOptions {
  /** How often deployed swarms are read again, so a deploy is picked up (default 30 s). */
  refreshMs?: number;
  /**
   * How late a tick may still be run (default 10 min): a tick missed while no worker was up, or
   * while the database was away, gets one catch-up run if it is the latest tick and at most this
   * old. Older missed ticks are skipped, never run in a burst.
   */
  graceMs?: number;
  /** The clock (ms since the epoch); tests pass a fixed one. Timers still wait in real time. */
  now?: () => number;
  log?: (line: string) => void;
}

/** One (swarm, cron) pair being followed. */
interface Schedule {
  swarm: string;
  cron: string;
  pattern: Cron;
  /** The swarm's latest deploy: a tick before it is not caught up (it may predate the schedule). */
  since: number;
  /** The latest tick this process claimed or saw claimed; a tick is tried once per process. */
  lastTick?: number;
  timer?: NodeJS.Timeout;
  busy?: Promise<void>;
}

export interface ScheduledSwarm {
  swarm: string;
  cron: string;
  next: Date | undefined;
}

export interface SchedulerCounts {
  /** Ticks for which this process created the run. */
  claimed: number;
  /** Ticks another process had already claimed. */
  taken: number;
  failed: number;
}

const MINUTE = 60_000;
// setTimeout holds at most 2^31-1 ms; a far tick is reached in steps, re-checking the clock each time.
const MAX_WAIT_MS = 3_600_000;

/**
 * Starts the runs of swarms that have `schedule` triggers. Runs in every worker process: each
 * follows every deployed schedule with its own timers, and claimTick's primary key makes one of
 * them create the run for each tick. Deployed swarms are re-read every `refreshMs`; a removed or
 * changed schedule is dropped then (and a tick in between is refused by claimTick).
 */
export class SwarmScheduler {
  private readonly schedules = new Map<string, Schedule>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly warned = new Set<string>();
  private readonly refreshMs: number;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private state: "new" | "running" | "stopped" = "new";
  readonly counts: SchedulerCounts = { claimed: 0, taken: 0, failed: 0 };

  constructor(
    private readonly sql: Sql,
    options: SwarmSchedulerOptions = {},
  ) {
    this.refreshMs = Math.max(50, options.refreshMs ?? 30_000);
    this.graceMs = Math.max(0, options.graceMs ?? 10 * MINUTE);
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => console.error(`scheduler: ${line}`));
  }

  /** Reads the deployed schedules and runs any catch-up tick; rejects (leaving nothing running) if the first read fails. */
  async start(): Promise<void> {
    if (this.state !== "new") throw new Error("a SwarmScheduler starts once");
    this.state = "running";
    try {
      await this.refresh();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.armRefresh();
  }

  /** Clears every timer and waits for the claims under way; no run is requested after it resolves. */
  async stop(): Promise<void> {
    this.state = "stopped";
    clearTimeout(this.refreshTimer);
    for (const schedule of this.schedules.values()) clearTimeout(schedule.timer);
    await this.refreshing?.catch(() => {});
    // No claim starts once stopped (wake checks), and one that finishes re-arms nothing.
    await Promise.allSettled([...this.inFlight]);
    this.schedules.clear();
  }

  /** The schedules followed now, with each one's next tick. */
  list(): ScheduledSwarm[] {
    return [...this.schedules.values()].map((s) => ({ swarm: s.swarm, cron: s.cron, next: s.pattern.nextRun(new Date(this.now())) ?? undefined }));
  }

  /** Reads deployed swarms now (also done every refreshMs); resolves once due ticks have been claimed. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readSchedules().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private armRefresh(): void {
    if (this.state !== "running") return;
    this.refreshTimer = setTimeout(() => {
      this.refresh()
        .catch((error: unknown) => this.log(`reading deployed swarms failed (current schedules kept): ${(error as Error).message}`))
        .finally(() => this.armRefresh());
    }, this.refreshMs);
  }

  private async readSchedules(): Promise<void> {
    // Only the triggers: a loaded swarm carries its skills and nested swarms, read here by every worker every refresh.
    const rows = await this.sql<{ name: string; triggers: unknown; deployed_at: Date }[]>`
      SELECT name, spec->'spec'->'triggers' AS triggers, deployed_at FROM swarms
      WHERE spec->'spec'->'triggers' @> '[{"schedule": {}}]'::jsonb`;
    if (this.state !== "running") return;
    const wanted = new Map<string, { swarm: string; cron: string; since: number }>();
    for (const row of rows) {
      for (const cron of scheduleCrons({ spec: { triggers: row.triggers } })) wanted.set(key(row.name, cron), { swarm: row.name, cron, since: row.deployed_at.getTime() });
    }
    for (const [k, schedule] of this.schedules) {
      if (wanted.has(k)) continue;
      clearTimeout(schedule.timer);
      this.schedules.delete(k);
      this.log(`${schedule.swarm}: no longer scheduled at "${schedule.cron}"`);
    }
    const woken: Promise<void>[] = [];
    for (const [k, { swarm, cron, since }] of wanted) {
      let schedule = this.schedules.get(k);
      if (!schedule) {
        let pattern: Cron;
        try {
          pattern = parseCron(cron);
        } catch (error) {
          // Deployed before validation refused it: said once per process, then ignored.
          if (!(error instanceof CronExpressionError)) throw error;
          if (!this.warned.has(k)) this.log(`${swarm}: schedule ignored: ${error.message}`);
          this.warned.add(k);
          continue;
        }
        schedule = { swarm, cron, pattern, since };
        this.schedules.set(k, schedule);
        this.log(`${swarm}: scheduled at "${cron}" (UTC)`);
      }
      // Every process judges catch-ups by the latest deploy, as one starting now would.
      schedule.since = since;
      // Also a retry: a tick whose claim failed (database away) is tried again while within grace.
      woken.push(this.wake(schedule));
    }
    await Promise.all(woken);
  }

  /** Claims the latest due tick if this process has not tried it, then waits for the next one. */
  private wake(schedule: Schedule): Promise<void> {
    clearTimeout(schedule.timer);
    if (this.state !== "running" || this.schedules.get(key(schedule.swarm, schedule.cron)) !== schedule) return Promise.resolve();
    if (schedule.busy) return schedule.busy; // its end re-arms the timer
    const now = this.now();
    const tick = latestTick(schedule.pattern, now)?.getTime();
    const due = tick !== undefined && tick >= schedule.since && now - tick <= this.graceMs && (schedule.lastTick === undefined || tick > schedule.lastTick);
    if (!due) {
      this.arm(schedule);
      return Promise.resolve();
    }
    const claiming = this.claim(schedule, tick).finally(() => {
      this.inFlight.delete(claiming);
      schedule.busy = undefined;
      this.arm(schedule);
    });
    schedule.busy = claiming;
    this.inFlight.add(claiming);
    return claiming;
  }

  private async claim(schedule: Schedule, tick: number): Promise<void> {
    const tickAt = new Date(tick);
    let result: ClaimOutcome;
    try {
      result = await claimTick(this.sql, { swarm: schedule.swarm, cron: schedule.cron, tickAt, input: `scheduled run at ${tickAt.toISOString()}` });
    } catch (error) {
      // lastTick stays put, so the next refresh tries this tick again while it is within grace.
      this.counts.failed++;
      this.log(`${schedule.swarm}: requesting the run for ${tickAt.toISOString()} failed: ${(error as Error).message}`);
      return;
    }
    schedule.lastTick = tick;
    if (result.outcome === "claimed") {
      this.counts.claimed++;
      this.log(`${schedule.swarm}: run ${result.runId} for the tick at ${tickAt.toISOString()}`);
    } else if (result.outcome === "taken") {
      this.counts.taken++;
    }
  }

  private arm(schedule: Schedule): void {
    clearTimeout(schedule.timer);
    if (this.state !== "running" || this.schedules.get(key(schedule.swarm, schedule.cron)) !== schedule) return;
    const now = this.now();
    const next = schedule.pattern.nextRun(new Date(now));
    if (!next) return; // no tick left (parseCron refuses patterns that never fire, so only at the end of time)
    const wait = Math.min(MAX_WAIT_MS, Math.max(0, next.getTime() - now));
    schedule.timer = setTimeout(() => {
      this.wake(schedule).catch((error: unknown) => this.log(`${schedule.swarm}: ${(error as Error).message}`));
    }, wait);
  }
}

function key(swarm: string, cron: string): string {
  return `${swarm}\u0000${cron}`;
}
