#!/usr/bin/env node
// The task DAG CLI (beads-compatible), run straight from TypeScript through tsx like bin/godotz.mjs.
import { register } from "tsx/esm/api";

register();
await import("../cli/bd/main.ts");
