// The library's filtering proxy holds ONE allowlist for the whole process (it is a process-wide
// singleton, and the proxy's decision does not see which run asked). To give each run exactly
// its own hosts, runs whose allowlists differ never overlap: runs with the allowlist in force are
// admitted at once, a run with another allowlist waits until the running ones have ended, and the
// allowlist is then swapped (the proxy reads it per connection). Tasks of one swarm share one
// allowlist, so in practice they run side by side; waiting happens only across swarms.

export class GateWaitTimeout extends Error {
  override name = "GateWaitTimeout";
}

interface Waiter {
  key: string;
  hosts: string[];
  admit: () => void;
  reject: (e: unknown) => void;
}

export class NetworkPolicyGate {
  private current: string | undefined;
  private active = 0;
  private readonly waiting: Waiter[] = [];

  /** `apply` swaps the allowlist in force; it is called only while no run is inside the gate. */
  constructor(private readonly apply: (hosts: string[]) => void) {}

  /**
   * Resolves once `hosts` is the allowlist in force and holds it until the returned release is
   * called. Rejects with GateWaitTimeout after `waitMs`, or with the signal's reason on abort.
   */
  async enter(hosts: string[], waitMs: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const sorted = [...new Set(hosts)].sort();
    const key = sorted.join("\n");
    // Joining a running allowlist while others wait would starve them, so only when none waits.
    if (this.waiting.length === 0 && (this.active === 0 || key === this.current)) {
      this.admit(key, sorted);
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { key, hosts: sorted, admit: () => settle(resolve), reject: (e) => settle(() => reject(e)) };
      const timer = setTimeout(() => waiter.reject(new GateWaitTimeout(`waited ${waitMs} ms for tasks with another network allowlist to end`)), waitMs);
      const onAbort = () => waiter.reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const i = this.waiting.indexOf(waiter);
        if (i !== -1) this.waiting.splice(i, 1);
        fn();
      };
      this.waiting.push(waiter);
    });
    return this.releaser();
  }

  /** How many runs hold the gate, and how many wait (for tests and diagnostics). */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  private admit(key: string, hosts: string[]): void {
    if (key !== this.current) {
      this.apply(hosts);
      this.current = key;
    }
    this.active++;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (this.active === 0) this.drain();
    };
  }

  /** Admits every waiter that shares the allowlist of the one waiting longest. */
  private drain(): void {
    const head = this.waiting[0];
    if (!head) return;
    for (const w of this.waiting.filter((w) => w.key === head.key)) {
      this.admit(w.key, w.hosts);
      w.admit();
    }
  }
}
