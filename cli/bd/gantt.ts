import { Command, Option } from "commander";
import { schedule, TaskInputError, type Schedule, type ScheduledTask } from "../../workers/tasks/index.ts";
import { printJson, withStore } from "./context.ts";

const GLYPH = { done: "█", running: "▓", planned: "░", critical: "▒", now: "┊" } as const;
const CRITICAL_MARK = "◆";
const ANSI = { done: "\x1b[32m", running: "\x1b[33m", critical: "\x1b[31m", dim: "\x1b[2m", reset: "\x1b[0m" } as const;
const MIN_BAR = 10;

export interface DrawOptions {
  width: number;
  colour: boolean;
}

const pad2 = (n: number) => String(n).padStart(2, "0");
const day = (d: Date) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
const clock = (d: Date) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
/** Local time; the date only when it is not today. */
const when = (d: Date, now: Date) => (day(d) === day(now) ? clock(d) : `${day(d)} ${clock(d)}`);
function span(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor((minutes % 1440) / 60), minutes % 60];
  return [d ? `${d}d` : "", h ? `${h}h` : "", m || (!d && !h) ? `${m}m` : ""].filter(Boolean).join(" ");
}
const fit = (text: string, width: number) => (text.length <= width ? text.padEnd(width) : `${text.slice(0, Math.max(0, width - 1))}…`);

function etaCell(t: ScheduledTask, now: Date): string {
  if (t.kind === "stopped") return "cancelled";
  if (t.kind === "done") return `done ${when(t.end!, now)}`;
  return `eta ${when(t.eta!, now)}`;
}

/**
 * The schedule as text lines no wider than `width`: a header with the time axis, one row per task
 * (critical-path mark, id, title, bar, ETA), then the set's ETA, the critical path and a legend.
 */
export function ganttLines(s: Schedule, o: DrawOptions): string[] {
  const { now, tasks } = s;
  if (!tasks.length) return ["No tasks."];
  const paint = (text: string, colour: string) => (o.colour && text.trim() ? `${colour}${text}${ANSI.reset}` : text);
  const etas = tasks.map((t) => etaCell(t, now));
  const idWidth = Math.max(...tasks.map((t) => t.id.length));
  const etaWidth = Math.max(...etas.map((e) => e.length));
  // "◆ " id " " title " │" bar "│ " eta
  const fixed = 2 + idWidth + 1 + 1 + 2 + 2 + etaWidth;
  const titleWidth = Math.max(0, Math.min(24, Math.max(...tasks.map((t) => t.title.length)), o.width - fixed - MIN_BAR));
  const barWidth = Math.max(MIN_BAR, o.width - fixed - titleWidth);

  const times = tasks.flatMap((t) => [t.start, t.end]).filter((d): d is Date => d !== null).map((d) => d.getTime());
  const from = Math.min(now.getTime(), ...times);
  const to = Math.max(now.getTime(), ...times, from + 60_000);
  const col = (d: Date) => Math.round(((d.getTime() - from) / (to - from)) * (barWidth - 1));
  const nowCol = col(now);

  const bar = (t: ScheduledTask): string => {
    const cells: { ch: string; colour: string }[] = Array.from({ length: barWidth }, (_, i) => ({ ch: i === nowCol ? GLYPH.now : " ", colour: ANSI.dim }));
    const fill = (a: number, b: number, ch: string, colour: string) => {
      for (let i = Math.max(0, a); i <= Math.min(barWidth - 1, b); i++) cells[i] = { ch, colour };
    };
    const later = t.critical ? { ch: GLYPH.critical, colour: ANSI.critical } : { ch: GLYPH.planned, colour: ANSI.dim };
    if (t.kind === "done") fill(col(t.start!), col(t.end!), GLYPH.done, ANSI.done);
    if (t.kind === "running") {
      fill(nowCol + 1, col(t.end!), later.ch, later.colour);
      fill(col(t.start!), nowCol, GLYPH.running, ANSI.running);
    }
    if (t.kind === "planned") fill(col(t.start!), col(t.end!), later.ch, later.colour);
    return cells.map((c) => paint(c.ch, c.colour)).join("");
  };

  const axisLeft = when(new Date(from), now);
  const axisRight = when(new Date(to), now);
  const axis = barWidth >= axisLeft.length + axisRight.length + 1 ? axisLeft + axisRight.padStart(barWidth - axisLeft.length) : axisLeft.padEnd(barWidth).slice(0, barWidth);
  const lead = " ".repeat(2 + idWidth + 1 + titleWidth);
  const lines = [
    `${lead} ${axis.slice(0, barWidth)}`.trimEnd(),
    ...tasks.map((t, i) => {
      const mark = t.critical ? paint(CRITICAL_MARK, ANSI.critical) : " ";
      return `${mark} ${t.id.padEnd(idWidth)} ${fit(t.title, titleWidth)} │${bar(t)}│ ${etas[i]}`.trimEnd();
    }),
    "",
  ];
  const left = tasks.filter((t) => t.eta !== null).length;
  lines.push(s.eta ? `ETA ${day(s.eta)} ${clock(s.eta)} (in ${span(s.eta.getTime() - now.getTime())}) for ${left} unfinished of ${tasks.length} tasks` : `All ${tasks.length} tasks finished or cancelled.`);
  if (s.critical_path.length) lines.push(`Critical path: ${s.critical_path.join(" → ")}`);
  lines.push(`${GLYPH.done} done  ${GLYPH.running} running  ${GLYPH.planned} planned  ${GLYPH.critical} ${CRITICAL_MARK} critical path  ${GLYPH.now} now (${clock(now)})`);
  // The free-text lines wrap to the width too; the rows already fit.
  return lines.map((l, i) => (i > tasks.length ? l.slice(0, o.width) : l));
}

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new TaskInputError(`${name}: must be a whole number > 0`);
  return n;
};

export function ganttCommand(): Command {
  return new Command("gantt")
    .description("the tasks over time: done, running and planned bars, the critical path and ETAs")
    .argument("[ids...]", "only these tasks (default: all, or those of --swarm / --run)")
    .option("--swarm <name>", "only tasks of this swarm")
    .option("--run <id>", "only tasks of this run")
    .option("-w, --width <columns>", "chart width (default: the terminal's, else 100)", positive("width"))
    .option("--default-minutes <n>", "duration of a task with no estimate and no finished task of its type", positive("default-minutes"), 30)
    .addOption(new Option("--json", "print the computed schedule (tasks with start, end, eta, critical) instead"))
    .action(async (ids: string[], o: { swarm?: string; run?: string; width?: number; defaultMinutes: number; json?: boolean }) => {
      const timeline = await withStore((s) => s.timeline({ ids, swarm: o.swarm, run: o.run }));
      const plan = schedule(timeline.tasks, timeline.edges, { now: new Date(), samples: timeline.samples, defaultMinutes: o.defaultMinutes, select: timeline.selected });
      if (o.json) return printJson(plan);
      const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
      console.log(ganttLines(plan, { width: o.width ?? process.stdout.columns ?? 100, colour }).join("\n"));
    });
}
