import { accessSync, constants, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AgentConfig } from "./config.ts";

/** Tools a task may need; each one found on PATH becomes a capability of the same name. */
const TOOLS = ["git", "node", "python3", "docker", "bwrap", "gcc", "make", "cargo", "go", "chromium", "ffmpeg"];

/** The registration record of a node: what it is and what it offers. */
export interface NodeInfo {
  id: string;
  hostname: string;
  os: string;
  arch: string;
  cpus: number;
  memory_bytes: number;
  labels: string[];
  capabilities: string[];
  roles: string[];
  version: string;
  capacity: number;
}

function onPath(tool: string, pathVar: string): boolean {
  return pathVar.split(path.delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Capabilities the machine shows: tools on PATH and `gpu` when an NVIDIA driver tool is there. */
export function detectCapabilities(pathVar = process.env.PATH ?? ""): string[] {
  const found = TOOLS.filter((t) => onPath(t, pathVar));
  if (onPath("nvidia-smi", pathVar)) found.push("gpu");
  return found;
}

export function godotzVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function describeNode(config: AgentConfig): NodeInfo {
  return {
    id: config.nodeId,
    hostname: os.hostname(),
    os: os.platform(),
    arch: os.arch(),
    cpus: os.availableParallelism(),
    memory_bytes: os.totalmem(),
    labels: config.labels,
    // Configured capabilities (e.g. `vision`) join what was detected; sorted and unique so records compare.
    capabilities: [...new Set([...detectCapabilities(), ...config.capabilities])].sort(),
    roles: config.roles,
    version: godotzVersion(),
    capacity: config.capacity,
  };
}
