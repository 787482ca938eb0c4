// Tiny statistics helpers for benchmark samples. Pure functions.

/** Median of a non-empty list (mean of the middle two for even lengths). Throws on an empty list. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no samples');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
