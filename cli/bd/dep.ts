import { Command, Option } from "commander";
import type { DependencyType } from "../../workers/tasks/index.ts";
import { printJson, withStore } from "./context.ts";
import { treeLines } from "./format.ts";

const json = () => new Option("--json", "print JSON");

export function depCommand(): Command {
  const dep = new Command("dep").description("dependencies between tasks (the first id depends on the second, as beads)");

  dep
    .command("add")
    .description("ISSUE depends on DEPENDS_ON; blocks and parent-child hold ISSUE back until DEPENDS_ON allows it")
    .argument("<issue>", "the dependent task")
    .argument("<depends-on>", "the task it depends on")
    .option("-t, --type <type>", "blocks, parent-child, related or discovered-from", "blocks")
    .addOption(json())
    .action(async (issue: string, dependsOn: string, o: { type: string; json?: boolean }) => {
      const d = await withStore((s) => s.addDependency(issue, dependsOn, o.type as DependencyType));
      if (o.json) return printJson({ status: "added", issue_id: d.issue_id, depends_on_id: d.depends_on_id, type: d.type });
      console.log(`Added dependency: ${d.issue_id} depends on ${d.depends_on_id} (${d.type})`);
    });

  dep
    .command("remove")
    .alias("rm")
    .description("remove the dependency of ISSUE on DEPENDS_ON")
    .argument("<issue>", "the dependent task")
    .argument("<depends-on>", "the task it depends on")
    .addOption(json())
    .action(async (issue: string, dependsOn: string, o: { json?: boolean }) => {
      const d = await withStore((s) => s.removeDependency(issue, dependsOn));
      if (o.json) return printJson({ status: "removed", issue_id: d.issue_id, depends_on_id: d.depends_on_id, type: d.type });
      console.log(`Removed dependency: ${d.issue_id} no longer depends on ${d.depends_on_id}`);
    });

  dep
    .command("tree")
    .description("what a task depends on, as a tree (--reverse: what depends on it)")
    .argument("<id>", "task id")
    .option("--reverse", "show dependents instead")
    .option("-d, --max-depth <n>", "stop this deep", "50")
    .addOption(json())
    .action(async (id: string, o: { reverse?: boolean; maxDepth: string; json?: boolean }) => {
      const nodes = await withStore((s) => s.tree(id, { reverse: o.reverse, maxDepth: Number(o.maxDepth) }));
      if (o.json) return printJson(nodes);
      console.log(treeLines(nodes).join("\n"));
    });
  return dep;
}
