// Interleaved rounds, the basis of every ratio the bench reports.
//
// The machine's throughput drifts by tens of percent from one minute to the next (other VMs
// on the host), so "A measured now ÷ B measured three minutes later" mostly measures the
// drift. Instead every server of a group runs at the same time (each idles while another is
// measured) and short measurements alternate in rounds: A B C | C B A | A B C | ... (the
// order flips every round, so a steady trend over the rounds does not favour whichever arm
// always goes first). A ratio is median(A) ÷ median(B) over the rounds; the per-round ratios
// A_i ÷ B_i (measured seconds apart) are kept so their spread shows how steady it was.

/** One thing measured in each round (a server with a request shape and a load tool). */
export interface Arm<T> {
  measure(durationS: number): Promise<T>;
}

/**
 * Measures every arm once per round, in arm order in even rounds and in reverse order in odd
 * ones; returns each arm's results in round order. onRound sees each round's results (arm order).
 */
export async function interleave<T>(
  arms: Arm<T>[],
  rounds: number,
  roundS: number,
  onRound?: (round: number, results: T[]) => void,
): Promise<T[][]> {
  const out: T[][] = arms.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = arms.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    const results: T[] = new Array<T>(arms.length);
    for (const i of order) results[i] = await arms[i]!.measure(roundS);
    results.forEach((x, i) => out[i]!.push(x));
    onRound?.(r, results);
  }
  return out;
}

export function median(xs: number[]): number {
  const finite = xs.filter(Number.isFinite);
  if (!finite.length) return NaN;
  const s = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** "min–max" of per-round ratios. */
export function spread(xs: number[], digits = 2): string {
  const finite = xs.filter(Number.isFinite);
  if (!finite.length) return '—';
  return `${Math.min(...finite).toFixed(digits)}–${Math.max(...finite).toFixed(digits)}`;
}
