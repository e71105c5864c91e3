/**
 * Work that finishes after the response (budget settlement, audit writes): on Node it is tracked
 * so a shutdown can wait for it; on a Worker it is handed to `ctx.waitUntil`.
 */
export class BackgroundTasks {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly onError: (error: unknown) => void,
    private readonly handOff?: (p: Promise<unknown>) => void,
  ) {}

  run(task: Promise<unknown>): void {
    const p = task.catch(this.onError);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    this.handOff?.(p);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
