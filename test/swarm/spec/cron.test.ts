import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { loadSwarmFile, parseSwarm, SwarmFileError } from "../../../workers/swarm/spec/index.ts";
import { cronProblem, latestTick, parseCron } from "../../../workers/swarm/schedule/index.ts";
import { GODOTZ_BIN } from "../../helpers/process.ts";
import { BASE, issueAt, positionIn, refusedIssues, simulated, tempDir } from "./helpers.ts";

// The schedule trigger's cron rule: refused at validate time with the expression's line and column.

const tmp = await tempDir();
after(() => tmp.remove());

function withTriggers(triggers: string): string {
  return `${BASE}triggers:\n${triggers}`;
}

test("five-field and six-field (seconds first) expressions are accepted, read in UTC", () => {
  for (const cron of ["0 7 * * 1-5", "*/15 * * * *", "0 0 1 JAN,JUL *", "0 9 * * MON-FRI", "0 0 * * 7", "0 0 L * *", "0 0 * * MON#2", "*/30 * * * * *", "0 0 29 2 *"]) {
    assert.equal(cronProblem(cron), undefined, cron);
    const spec = parseSwarm(withTriggers(`  - schedule: { cron: "${cron}" }\n`), "ok.yaml", simulated);
    assert.deepEqual(spec.triggers, [{ schedule: { cron } }]);
  }
  const weekdays = parseCron("0 7 * * 1-5");
  // Friday 2026-01-02 07:00 UTC, then Monday: the pattern is UTC whatever the process's zone.
  assert.equal(weekdays.nextRun(new Date("2026-01-02T06:59:59Z"))?.toISOString(), "2026-01-02T07:00:00.000Z");
  assert.equal(weekdays.nextRun(new Date("2026-01-02T07:00:00Z"))?.toISOString(), "2026-01-05T07:00:00.000Z");
  assert.equal(latestTick(weekdays, Date.parse("2026-01-02T07:00:00Z"))?.toISOString(), "2026-01-02T07:00:00.000Z", "a tick exactly now is the latest");
  assert.equal(latestTick(weekdays, Date.parse("2026-01-02T06:59:59.999Z"))?.toISOString(), "2026-01-01T07:00:00.000Z");
  assert.equal(parseCron("* * * * * *").nextRun(new Date("2026-01-01T00:00:00.400Z"))?.toISOString(), "2026-01-01T00:00:01.000Z");
});

test("each kind of bad expression is refused with a reason", () => {
  const cases: [string, RegExp][] = [
    ["* * * *", /five fields .* or six with seconds first; this has 4/],
    ["0 0 1 1 * 2027", /^invalid cron "0 0 1 1 \* 2027": .*/],
    ["* * * * * * *", /this has 7/],
    ["61 * * * *", /minute: 61/],
    ["0 24 * * *", /hour: 24/],
    ["0 7 * * 8", /dayOfWeek: 8/],
    ["0 7 32 * *", /day/],
    ["0 7 * 13 *", /month/],
    ["a b c d e f", /illegal characters/],
    ["*/0 * * * *", /stepping: 0/],
    ["5/5 * * * *", /numeric prefix/],
    ["1,,2 * * * *", /empty/],
    ["0 0 31 4 *", /never fires/],
    ["0 0 30 2 *", /never fires/],
    ["@annually", /five fields/],
    ["@midnight", /five fields/],
  ];
  for (const [cron, reason] of cases) {
    const problem = cronProblem(cron);
    assert.ok(problem, `${cron} should be refused`);
    assert.match(problem, reason, cron);
    assert.ok(problem.startsWith(`invalid cron "${cron}": `), problem);
  }
  // Six fields whose first is out of range for seconds: still a clear reason, not a crash.
  assert.match(cronProblem("60 * * * * *")!, /second: 60/);
});

test("validate refuses a bad cron at the line and column of its key, next to the other rules' issues", async () => {
  const text = withTriggers(`  - webhook: { secret: env:HOOK }\n  - schedule: { cron: "0 7 * * 1-5" }\n  - schedule:\n      cron: "61 7 * * *"\n  - schedule: { cron: "0 0 31 4 *" }\n`);
  const file = await tmp.write("bad-cron/swarm.yaml", text);
  const issues = await refusedIssues(file);
  assert.equal(issues.length, 2, JSON.stringify(issues));
  assert.match(issueAt(issues, "triggers.2.schedule.cron", text, "cron:", `"61 7`).message, /invalid cron "61 7 \* \* \*": Invalid value for minute: 61/);
  assert.match(issueAt(issues, "triggers.3.schedule.cron", text, "cron:", `"0 0 31 4`).message, /never fires/);

  try {
    parseSwarm(text, "inline.yaml", simulated);
    assert.fail("parseSwarm should refuse it too");
  } catch (error) {
    assert.ok(error instanceof SwarmFileError);
    const at = positionIn(text, "cron:", `"61 7`);
    assert.ok(error.message.includes(`inline.yaml:${at.line}:${at.column} triggers.2.schedule.cron: invalid cron`), error.message);
  }
  // Without a model catalogue the rule still holds: it does not depend on the gateway.
  assert.throws(() => parseSwarm(text, "inline.yaml"), SwarmFileError);
});

test("a nickname such as @daily is refused by the cron rule, positioned; a valid schedule loads", async () => {
  const short = withTriggers(`  - schedule: { cron: "@daily" }\n`);
  const issues = await refusedIssues(await tmp.write("short/swarm.yaml", short));
  assert.match(issueAt(issues, "triggers.0.schedule.cron", short, "cron:").message, /invalid cron "@daily"/);
  const good = await loadSwarmFile(await tmp.write("good/swarm.yaml", withTriggers(`  - schedule: { cron: "*/10 * * * * *" }\n`)), { catalogue: simulated });
  assert.deepEqual(good.spec.triggers, [{ schedule: { cron: "*/10 * * * * *" } }]);
});

test("godotz swarm validate prints file:line:col for a bad cron and exits 2", async () => {
  const text = withTriggers(`  - schedule: { cron: "0 7 * * 8" }\n`);
  await tmp.write("cli/bad.yaml", text);
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.GODOTZ_CONFIG;
    execFile(process.execPath, [GODOTZ_BIN, "swarm", "validate", "bad.yaml"], { cwd: path.join(tmp.dir, "cli"), env, timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stderr });
    });
  });
  assert.equal(code, 2, stderr);
  const at = positionIn(text, "cron:");
  assert.ok(stderr.includes(`bad.yaml:${at.line}:${at.column} triggers.0.schedule.cron: invalid cron "0 7 * * 8": Invalid value for dayOfWeek: 8`), stderr);
});
