import { admit, applySample, freshHealth, type HealthParams, type HealthSample, type StoredHealth } from "./state.ts";

/** Where health lives: Redis for a fleet, process memory for one process (see redis-store.ts). */
export interface HealthStore {
  record(model: string, sample: HealthSample, now: number): Promise<void>;
  /** Reads the models' state; with `claim`, also takes the probe lease of admitted half-open models. */
  read(models: string[], now: number, claim: boolean): Promise<Array<{ state: StoredHealth; admitted: boolean }>>;
}

/** Health for one process only: what the gateway uses when no Redis is configured. */
export class MemoryHealthStore implements HealthStore {
  private readonly states = new Map<string, StoredHealth>();

  constructor(private readonly params: HealthParams) {}

  async record(model: string, sample: HealthSample, now: number): Promise<void> {
    this.states.set(model, applySample(this.states.get(model) ?? freshHealth(now), sample, now, this.params));
  }

  async read(models: string[], now: number, claim: boolean): Promise<Array<{ state: StoredHealth; admitted: boolean }>> {
    return models.map((model) => {
      const state = this.states.get(model) ?? freshHealth(now);
      const { admitted, claimed } = admit(state, now, this.params);
      if (claim && claimed) this.states.set(model, claimed);
      return { state, admitted };
    });
  }
}
