/**
 * Work that finishes after the response (budget settlement, audit writes): on Node it is tracked
 * so a shutdown can wait for it; on a Worker it is handed to `ctx.waitUntil`.
 */
export class BackgroundTasks {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly onError: (error: unknown) => void,
    private readonly handOff?: (p: Promise<unknown>) => void,
    /**
     * How `afterResponse` waits for the answer to be written. On Node, `setImmediate`: the
     * response is written in the microtasks that follow the handler, and an immediate runs after
     * them. Elsewhere (a Worker, tests on `app.request`) a microtask: the work is still tracked.
     * (Called through a closure: workerd refuses `queueMicrotask` with another `this`.)
     */
    private readonly defer: (run: () => void) => void = (run) => queueMicrotask(run),
  ) {}

  run(task: Promise<unknown>): void {
    const p = task.catch(this.onError);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    this.handOff?.(p);
  }

  /**
   * Bookkeeping that the client need not wait for (the audit record, the budget's settlement,
   * the slot's release, the health record, the cache write), run once the answer is on its way.
   * Each of these writes to a socket or serialises a record; done before the response, they sat
   * on every request's path, and on a busy host each socket write may hand the CPU to the
   * process it wakes. Tracked from now on, so a shutdown still waits for it.
   */
  afterResponse(work: () => unknown): void {
    this.run(new Promise<void>((resolve) => this.defer(resolve)).then(work));
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
