/**
 * The node's task slots (its capacity), shared by its pull loops (one per consumer it reads).
 * A loop reserves slots before asking JetStream for that many messages, so the node never holds
 * more delivered messages than it can start, and their ack timers never run while they wait.
 * A loop may not take the last slots while another loop holds none, so a busy role cannot
 * starve the node's own subject.
 */
export class SlotPool {
  private running = 0;
  private reserved = new Map<string, number>();
  private waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.running;
  }

  private free(): number {
    let held = this.running;
    for (const n of this.reserved.values()) held += n;
    return this.capacity - held;
  }

  /** Waits for at least one free slot, then reserves up to `max` for `loop`; 0 when aborted. */
  async reserve(loop: string, loops: string[], max: number, signal: AbortSignal): Promise<number> {
    for (;;) {
      if (signal.aborted) return 0;
      const free = this.free();
      const idleOthers = loops.filter((l) => l !== loop && !(this.reserved.get(l) ?? 0)).length;
      const take = Math.min(max, free > idleOthers ? free - idleOthers : free > 0 ? 1 : 0);
      if (take > 0) {
        this.reserved.set(loop, (this.reserved.get(loop) ?? 0) + take);
        return take;
      }
      await new Promise<void>((resolve) => {
        const wake = () => resolve();
        this.waiters.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** A reserved slot starts a task. */
  start(loop: string): void {
    this.reserved.set(loop, Math.max(0, (this.reserved.get(loop) ?? 0) - 1));
    this.running++;
  }

  /** A task ended. */
  finish(): void {
    this.running--;
    this.wake();
  }

  /** The loop's fetch ended: what it reserved and did not use is free again. */
  release(loop: string): void {
    this.reserved.set(loop, 0);
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
