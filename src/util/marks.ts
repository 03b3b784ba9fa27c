/**
 * Coverage marks (TigerBeetle's testing/marks.zig): production code names a rare path with
 * `mark('…')`, and a test asserts the path was taken, which ties the path to the test that
 * explains it. Counting is a map increment, cheap enough to leave on everywhere.
 */
const counts = new Map<string, number>()

export function mark (name: string): void {
  counts.set(name, (counts.get(name) ?? 0) + 1)
}

export function markCount (name: string): number {
  return counts.get(name) ?? 0
}

export function resetMarks (): void {
  counts.clear()
}

export function allMarks (): ReadonlyMap<string, number> {
  return counts
}
