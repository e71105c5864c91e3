// Writes the scripted replay fixtures (test/temporal/scenarios.ts) as history JSON files here:
//   node --import tsx test/temporal/histories/generate.ts
// Recorded histories from a real cluster go next to them (docs/temporal.md, "Replay tests").
import { writeFileSync } from "node:fs";
import { scenarios } from "../scenarios.ts";

for (const [name, build] of Object.entries(scenarios)) {
  const file = new URL(`./${name}.json`, import.meta.url);
  writeFileSync(file, `${build().toJSON()}\n`);
  console.log(`wrote ${file.pathname}`);
}
