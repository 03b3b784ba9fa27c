/**
 * Fisher–Yates in place with the caller's source of integers (the simulator's seeded `Prng`, or
 * any `RandomSource`), so that a seeded run shuffles the same way every time. Returns `items`.
 */
export function shuffleInPlace<T> (items: T[], random: { int (minInclusive: number, maxExclusive: number): number }): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(0, i + 1)
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}
