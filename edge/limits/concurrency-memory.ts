import type { AcquireInput, ConcurrencyLimiter, Lease } from "./concurrency.ts";
import { ConcurrencyRefusedError } from "./errors.ts";
import { keysAhead } from "./fairness.ts";

/**
 * In-process slots, for the no-Redis default: correct for one process only. No leases expire
 * here, because the only holder that could crash is this process, and its slots go with it.
 * Waiters are woken on release rather than polling.
 */
interface Waiter {
  keyId: string;
  grant(): void;
}

class ModelSlots {
  cap = 0;
  readonly held = new Map<string, number>();
  holding = 0;
  readonly waiters: Waiter[] = [];
  private readonly served = new Map<string, number>();
  private turn = 0;

  mayTake(keyId: string): boolean {
    const waitingKeys = new Set(this.waiters.map((w) => w.keyId));
    return this.cap - this.holding > keysAhead(keyId, waitingKeys, this.standing);
  }

  take(keyId: string): Lease {
    this.holding++;
    this.held.set(keyId, (this.held.get(keyId) ?? 0) + 1);
    this.served.set(keyId, ++this.turn);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.holding--;
        const left = this.held.get(keyId)! - 1;
        if (left > 0) this.held.set(keyId, left);
        else this.held.delete(keyId);
        this.dispatch();
      },
    };
  }

  /** Hands free slots to waiters, the key whose turn it is first. */
  dispatch(): void {
    while (this.holding < this.cap && this.waiters.length > 0) {
      const next = this.waiters.find((w) => this.mayTake(w.keyId));
      if (!next) return;
      this.remove(next);
      next.grant();
    }
    this.forgetIdleKeys();
  }

  remove(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
  }

  private readonly standing = (keyId: string) => ({ held: this.held.get(keyId) ?? 0, lastServed: this.served.get(keyId) ?? 0 });

  // A key neither holding nor waiting needs no turn order; forgetting it bounds memory.
  private forgetIdleKeys(): void {
    if (this.served.size <= 64) return;
    const waiting = new Set(this.waiters.map((w) => w.keyId));
    for (const keyId of this.served.keys()) if (!this.held.has(keyId) && !waiting.has(keyId)) this.served.delete(keyId);
  }
}

export function createMemoryConcurrencyLimiter(): ConcurrencyLimiter {
  const models = new Map<string, ModelSlots>();
  return {
    async acquire(input: AcquireInput): Promise<Lease> {
      input.signal?.throwIfAborted();
      let slots = models.get(input.model);
      if (!slots) models.set(input.model, (slots = new ModelSlots()));
      slots.cap = input.cap;
      if (slots.mayTake(input.keyId)) return slots.take(input.keyId);
      if (input.maxWaitMs <= 0) throw new ConcurrencyRefusedError(input.model, input.cap, 0, "timeout");
      // Per key, so a key that floods the queue cannot lock others out of it.
      if (slots.waiters.filter((w) => w.keyId === input.keyId).length >= input.maxQueue) throw new ConcurrencyRefusedError(input.model, input.cap, 0, "queue_full");
      return wait(slots, input);
    },
  };
}

function wait(slots: ModelSlots, input: AcquireInput): Promise<Lease> {
  const started = Date.now();
  return new Promise<Lease>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      input.signal?.removeEventListener("abort", onAbort);
      slots.remove(waiter);
    };
    const waiter: Waiter = {
      keyId: input.keyId,
      grant: () => {
        done();
        resolve(slots.take(input.keyId));
      },
    };
    const timer = setTimeout(() => {
      done();
      reject(new ConcurrencyRefusedError(input.model, input.cap, Date.now() - started, "timeout"));
      // A departed waiter may have been the one blocking another key's turn.
      slots.dispatch();
    }, input.maxWaitMs);
    const onAbort = () => {
      done();
      reject(input.signal!.reason);
      slots.dispatch();
    };
    input.signal?.addEventListener("abort", onAbort, { once: true });
    slots.waiters.push(waiter);
  });
}
