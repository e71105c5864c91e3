import v8 from "node:v8";

/**
 * Turns off V8's allocation-site pretenuring for a gateway process. V8 watches which allocation
 * sites' objects survive young-generation GCs and, past a threshold, allocates those sites'
 * objects straight into the old generation. Under a burst of concurrent requests (50
 * connections at saturation) a request's objects live long enough to trip that; the decision
 * then outlives the burst, so at ordinary load the same short-lived objects land in the old
 * generation as garbage: about twice as many full GCs, and young GCs that also scan those old
 * objects' pointers into the young generation took 3.4–3.7 ms instead of 1.2–1.5 ms (median
 * pause). Whether a process tripped it depended on timing, which made the gateway's one-client
 * p99 bimodal from one process to the next (docs/benchmarks.md, "A bimodal tail: V8's
 * pretenuring, and audit ids in time order"). A gateway's objects are request-scoped, so it gains nothing from pretenuring.
 * Set when the gateway starts, before its first request: V8 reads this flag as it runs (the
 * pauses above are from gateways that set it here, not on the command line), so it reaches
 * `godotz gateway`, `godotz dev` and anyone embedding `startNodeGateway` alike.
 */
export function tuneV8ForGateway(): void {
  v8.setFlagsFromString("--no-allocation-site-pretenuring");
}
