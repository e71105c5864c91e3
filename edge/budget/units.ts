/**
 * Budget amounts as whole units of 1e-10 USD, the scale of every money column (numeric(…, 10)).
 * Slices add and subtract thousands of amounts in memory between writes; in floating point the
 * sums drift, and a cap check or the agreement with the audit (which Postgres rounds row by row)
 * would drift with them. bigint keeps both exact for caps far beyond a double's 2^53 units.
 */
export type Units = bigint;

const SCALE = 10;

/**
 * The units Postgres stores for this number: the number's shortest decimal text (what the driver
 * sends) rounded half away from zero to ten decimals, as numeric rounds. `up` rounds any excess
 * up instead, for bounds that must not come out smaller.
 */
export function toUnits(usd: number, up = false): Units {
  if (!Number.isFinite(usd)) throw new RangeError(`not an amount: ${usd}`);
  const negative = usd < 0;
  const [mantissa, exponent = "0"] = Math.abs(usd).toString().split("e");
  const [whole = "0", fraction = ""] = mantissa!.split(".");
  // digits × 10^(shift) with `digits` an integer: move the decimal point by the exponent.
  const digits = BigInt(whole + fraction);
  const shift = Number(exponent) - fraction.length + SCALE;
  let units: bigint;
  if (shift >= 0) units = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    units = digits / divisor;
    const rest = digits % divisor;
    if (up ? rest > 0n : rest * 2n >= divisor) units += 1n;
  }
  return negative ? -units : units;
}

/** Units back to the decimal text numeric reads without loss. */
export function unitsText(units: Units): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(SCALE + 1, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`;
}

/** numeric text from Postgres (as the budget functions return it) to units; exact. */
export function textUnits(text: string): Units {
  const negative = text.startsWith("-");
  const [whole = "0", fraction = ""] = (negative ? text.slice(1) : text).split(".");
  const units = BigInt(whole) * 10n ** BigInt(SCALE) + BigInt((fraction + "0".repeat(SCALE)).slice(0, SCALE));
  return negative ? -units : units;
}

export const unitsUsd = (units: Units): number => Number(unitsText(units));
