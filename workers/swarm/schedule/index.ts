// Scheduled runs: swarm files' `schedule` triggers (cron, UTC), followed by every worker process,
// with one run per tick across all of them (swarm_schedule_ticks, migrations/0011). See docs/swarms.md.
export { SwarmScheduler, type SwarmSchedulerOptions, type ScheduledSwarm, type SchedulerCounts } from "./scheduler.ts";
export { claimTick, type TickClaim, type ClaimOutcome } from "./claim.ts";
export { parseCron, cronProblem, latestTick, CronExpressionError } from "./cron.ts";
export { scheduleCrons } from "./triggers.ts";
