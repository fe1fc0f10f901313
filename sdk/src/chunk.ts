/**
 * Splits `array` into consecutive slices of at most `size` items — for staying under the bulk
 * endpoints' 1,000-record limit.
 *
 * @example
 * for (const users of chunk(allUsers, 1000)) await vf.users.identifyBulk(users);
 */
export function chunk<T>(array: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
  return out;
}
