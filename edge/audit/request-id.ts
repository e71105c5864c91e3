import { v7 as uuidv7 } from "uuid";

/**
 * A request's id, which is also its audit row's primary key: a UUIDv7, so ids grow with time.
 * Random (v4) keys land on random pages of the primary-key index, so each batch dirties pages
 * all over it, and after every checkpoint the first change to each of those pages writes the
 * whole page to the WAL again. Time-ordered keys append to the index's right edge instead: per
 * 20-row batch, 28.2 → 20.4 kB of WAL and 0.42 → 0.34 ms of Postgres CPU (`npm run
 * bench:audit-insert`), CPU on the cores the gateway shares (docs/benchmarks.md, "A bimodal
 * tail: V8's pretenuring, and audit ids in time order"). `uuid` at the major already in the tree
 * (Temporal's client uses it), so there is one copy; it runs on Node and on workerd alike.
 */
export function newRequestId(): string {
  return uuidv7();
}
