import { Command, Option } from "commander";
import { TASK_STATUSES, TaskInputError, type CreateTaskInput, type DependencyType, type UpdateTaskInput } from "../../workers/tasks/index.ts";
import { printJson, withStore } from "./context.ts";
import { taskDetailLines, taskLines } from "./format.ts";

const json = () => new Option("--json", "print JSON (as beads: snake_case task objects)");
const csv = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);
/** Numbers from flags stay NaN when malformed, so the schema names the flag in its message. */
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** `--deps blocks:gz-1,gz-2` as beads: a bare id means blocks. */
function parseDeps(spec: string): { type: DependencyType; depends_on_id: string }[] {
  return csv(spec).map((item) => {
    const at = item.lastIndexOf(":");
    return at < 0 ? { type: "blocks", depends_on_id: item } : { type: item.slice(0, at) as DependencyType, depends_on_id: item.slice(at + 1) };
  });
}

export function createCommand(): Command {
  return new Command("create")
    .description("create a task")
    .argument("[title]", "title (or --title)")
    .option("--title <text>", "title")
    .option("-t, --type <type>", "type: task, bug, feature, epic, chore, …", "task")
    .option("-p, --priority <0-4>", "priority, 0 most urgent (P0-P4 also accepted)", "2")
    .option("-d, --description <text>", "description")
    .option("-a, --assignee <name>", "agent or node meant to do it")
    .option("-l, --labels <a,b>", "labels, comma-separated")
    .option("-e, --estimate <minutes>", "time estimate in minutes")
    .option("--deps <list>", "dependencies, e.g. blocks:gz-a1b2,discovered-from:gz-c3d4")
    .option("--parent <id>", "parent task (a parent-child dependency)")
    .option("--swarm <name>", "swarm or run the task belongs to")
    .option("--idempotency-key <key>", "creating again with the same key returns the first task")
    .addOption(json())
    .action(async (title: string | undefined, o: Record<string, string | boolean | undefined>) => {
      if (title && o.title) throw new TaskInputError("give the title once: as the argument or --title");
      const input: CreateTaskInput = {
        title: (title ?? o.title ?? "") as string,
        issue_type: o.type as string,
        priority: o.priority as string as unknown as number,
        description: (o.description as string | undefined) ?? "",
        assignee: o.assignee as string | undefined,
        labels: o.labels ? csv(o.labels as string) : [],
        estimated_minutes: num(o.estimate as string | undefined),
        swarm: o.swarm as string | undefined,
        idempotency_key: o.idempotencyKey as string | undefined,
        dependencies: [...(o.deps ? parseDeps(o.deps as string) : []), ...(o.parent ? [{ type: "parent-child" as const, depends_on_id: o.parent as string }] : [])],
      };
      const { task, created } = await withStore((s) => s.create(input));
      if (o.json) return printJson(task);
      console.log(`${created ? "Created" : "Exists"} ${task.id}: ${task.title}`);
    });
}

const filterOptions = (c: Command) =>
  c
    .option("-l, --label <label>", "only tasks with this label")
    .option("-a, --assignee <name>", "only tasks assigned to this agent or node")
    .option("--swarm <name>", "only tasks of this swarm")
    .addOption(json());

export function listCommand(): Command {
  return filterOptions(
    new Command("list").description("list tasks, most urgent and oldest first").option("-s, --status <status>", `one of ${TASK_STATUSES.join(", ")}`).option("-n, --limit <n>", "at most n tasks", "50"),
  ).action(async (o: { status?: string; label?: string; assignee?: string; swarm?: string; limit: string; json?: boolean }) => {
    const tasks = await withStore((s) => s.list({ status: o.status as never, label: o.label, assignee: o.assignee, swarm: o.swarm, limit: Number(o.limit) }));
    if (o.json) return printJson(tasks);
    console.log(tasks.length ? taskLines(tasks).join("\n") : "No tasks.");
  });
}

export function readyCommand(): Command {
  return filterOptions(new Command("ready").description("open, unclaimed tasks with every blocker closed").option("-n, --limit <n>", "at most n tasks", "10")).action(
    async (o: { label?: string; assignee?: string; swarm?: string; limit: string; json?: boolean }) => {
      const tasks = await withStore((s) => s.ready({ label: o.label, assignee: o.assignee, swarm: o.swarm, limit: Number(o.limit) }));
      if (o.json) return printJson(tasks);
      console.log(tasks.length ? taskLines(tasks).join("\n") : "No ready work.");
    },
  );
}

export function showCommand(): Command {
  return new Command("show")
    .description("a task with its dependencies and dependents")
    .argument("<ids...>", "task ids")
    .addOption(json())
    .action(async (ids: string[], o: { json?: boolean }) => {
      const details = await withStore(async (s) => Promise.all(ids.map((id) => s.show(id))));
      if (o.json) return printJson(details);
      console.log(details.map((d) => taskDetailLines(d).join("\n")).join("\n\n"));
    });
}

export function updateCommand(): Command {
  return new Command("update")
    .description("change fields of tasks")
    .argument("<ids...>", "task ids")
    .option("-s, --status <status>", `one of ${TASK_STATUSES.join(", ")}`)
    .option("-p, --priority <0-4>", "priority")
    .option("--title <text>", "title")
    .option("-t, --type <type>", "type")
    .option("-a, --assignee <name>", "assignee ('' to clear)")
    .option("-d, --description <text>", "description")
    .option("-l, --labels <a,b>", "replace the labels")
    .option("-e, --estimate <minutes>", "time estimate in minutes")
    .addOption(json())
    .action(async (ids: string[], o: Record<string, string | boolean | undefined>) => {
      const patch: UpdateTaskInput = {
        status: o.status as never,
        priority: o.priority as never,
        title: o.title as string | undefined,
        issue_type: o.type as string | undefined,
        assignee: o.assignee === "" ? null : (o.assignee as string | undefined),
        description: o.description as string | undefined,
        labels: o.labels === undefined ? undefined : csv(o.labels as string),
        estimated_minutes: num(o.estimate as string | undefined),
      };
      const tasks = await withStore(async (s) => {
        const out = [];
        for (const id of ids) out.push(await s.update(id, patch));
        return out;
      });
      if (o.json) return printJson(tasks);
      for (const t of tasks) console.log(`Updated ${t.id}: ${t.status} P${t.priority} ${t.title}`);
    });
}

export function closeCommand(): Command {
  return new Command("close")
    .description("close tasks (done)")
    .argument("<ids...>", "task ids")
    .option("-r, --reason <text>", "why it is closed", "Closed")
    .addOption(json())
    .action(async (ids: string[], o: { reason: string; json?: boolean }) => {
      const tasks = await withStore(async (s) => {
        const out = [];
        for (const id of ids) out.push(await s.close(id, o.reason));
        return out;
      });
      if (o.json) return printJson(tasks);
      for (const t of tasks) console.log(`Closed ${t.id}: ${t.close_reason ?? ""}`);
    });
}

export function retryCommand(): Command {
  return new Command("retry")
    .description("re-open failed tasks for another attempt (attempts stay counted)")
    .argument("<ids...>", "task ids")
    .addOption(json())
    .action(async (ids: string[], o: { json?: boolean }) => {
      const tasks = await withStore(async (s) => {
        const out = [];
        for (const id of ids) out.push(await s.retry(id));
        return out;
      });
      if (o.json) return printJson(tasks);
      for (const t of tasks) console.log(`Reopened ${t.id} after ${t.attempts} attempt${t.attempts === 1 ? "" : "s"}`);
    });
}

export function cancelCommand(): Command {
  return new Command("cancel")
    .description("cancel a task and its unfinished descendants (through blocks and parent-child)")
    .argument("<id>", "task id")
    .option("-r, --reason <text>", "why")
    .addOption(json())
    .action(async (id: string, o: { reason?: string; json?: boolean }) => {
      const tasks = await withStore((s) => s.cancel(id, o.reason));
      if (o.json) return printJson(tasks);
      console.log(`Cancelled ${tasks.map((t) => t.id).join(", ")}`);
    });
}
