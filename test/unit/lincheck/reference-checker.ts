import { pairOperations } from '../../../src/sim/lincheck/index.js'
import type { HistoryEvent, Operation, Scalar } from '../../../src/sim/lincheck/index.js'

/**
 * The definition of linearizability, executed literally: try every order of the operations
 * that respects real time, with each `info` operation either placed somewhere after its invoke
 * or left out. Exponential and memo-free on purpose, so it shares no cleverness with the real
 * checker. Only for histories of a handful of operations.
 */
export function referenceLinearizable (events: readonly HistoryEvent[]): boolean {
  const byKey = new Map<Scalar, Operation[]>()
  for (const op of pairOperations(events)) {
    if (op.outcome === 'fail' || (op.outcome === 'info' && op.f === 'read')) continue
    byKey.set(op.key, [...(byKey.get(op.key) ?? []), op])
  }
  return [...byKey.values()].every((ops) => search(ops, null))
}

function search (remaining: readonly Operation[], state: Scalar | null): boolean {
  if (remaining.every((op) => op.outcome === 'info')) return true
  return remaining.some((op, index) => {
    // `op` may go next only if nothing still to place had to finish before it started.
    if (remaining.some((other) => other.returnAt < op.invokeAt)) return false
    const next = apply(op, state)
    if (next === undefined) return false
    return search(remaining.filter((_, i) => i !== index), next.state)
  })
}

function apply (op: Operation, state: Scalar | null): { state: Scalar | null } | undefined {
  switch (op.f) {
    case 'read': return op.value === state ? { state } : undefined
    case 'write': return { state: op.value as Scalar }
    case 'cas': {
      const [expected, next] = op.value as readonly [Scalar | null, Scalar]
      return expected === state ? { state: next } : undefined
    }
  }
}
