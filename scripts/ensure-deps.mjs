// Runs before `npm run dev` and `npm test`: a fresh clone has no node_modules yet, so install them
// (from the lockfile when there is one). Plain Node, no dependencies, so it can run before any exist.
import { existsSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";

const marker = "node_modules/.package-lock.json";
const stale = !existsSync(marker) || (existsSync("package-lock.json") && statSync("package-lock.json").mtimeMs > statSync(marker).mtimeMs + 1000);
if (stale) {
  const command = existsSync("package-lock.json") ? "ci" : "install";
  console.error(`godotz: installing dependencies (npm ${command})…`);
  const result = spawnSync("npm", [command, "--no-audit", "--no-fund"], { stdio: "inherit", shell: process.platform === "win32" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
