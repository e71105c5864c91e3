/** Base of the fleet's failures a caller can act on; the CLI maps them to exit codes once, in cli/fleet.ts. */
export class FleetError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input at a boundary (flags, env, a NATS message): a usage error. */
export class FleetInputError extends FleetError {}

/** The node cannot run tasks safely (no sandbox): it refuses work rather than run it bare. */
export class FleetUnavailableError extends FleetError {}
