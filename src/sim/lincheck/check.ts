import { assert } from '../../util/assert.js'
import { InvalidCheckOptionError } from './errors.js'
import { formatValue, isCasValue, isScalar, validateEvent } from './history.js'
import type { HistoryEvent, Key, Scalar } from './history.js'
import { operationsByKey, pairOperations } from './operations.js'
import type { Operation } from './operations.js'
import { registerModel } from './register-model.js'
import type { RegisterInput } from './register-model.js'
import { linearize } from './search.js'
import type { SearchOp } from './search-op.js'

export interface CheckOptions {
  /** Search steps allowed per key. Makes an `undecided` verdict reproducible (the simulator uses it). */
  readonly maxSteps?: number
  /** Wall-clock budget for the whole history. */
  readonly timeBudgetMs?: number
}

export type LincheckResult =
  | { readonly outcome: 'linearizable' }
  | {
    readonly outcome: 'violation'
    readonly key: Key
    readonly message: string
    /** The operation that no order of the operations before its return can explain. */
    readonly op: Operation
    /** The smallest failing prefix of this key's history: every operation (fail and dropped info reads excluded) invoked before `op` returned, in invocation order. */
    readonly ops: readonly Operation[]
  }
  | { readonly outcome: 'undecided', readonly key: Key, readonly reason: string }

/**
 * Checks a client history of read/write/cas registers for linearizability, one key at a time
 * (a history of independent registers is linearizable iff each key's sub-history is: Herlihy
 * & Wing's locality). Keys are checked in order of first invocation; the first violation wins
 * over any undecided key, because a violation is a definite answer.
 * @throws MalformedHistoryError for events that would not parse from JSON lines
 * @throws InvalidCheckOptionError
 */
export function checkHistory (events: readonly HistoryEvent[], options: CheckOptions = {}): LincheckResult {
  validateOptions(options)
  const clean = events.map((event, index) => validateEvent(event, event.line ?? index + 1))
  const byKey = operationsByKey(pairOperations(clean))
  const now = (): number => performance.now()
  const deadlineMs = options.timeBudgetMs === undefined ? undefined : now() + options.timeBudgetMs
  let undecided: LincheckResult | undefined
  for (const [key, ops] of byKey) {
    const relevant = relevantOperations(ops)
    const search = linearize(registerModel, relevant.map(toSearchOp), { maxSteps: options.maxSteps, deadlineMs, now })
    switch (search.outcome) {
      case 'linearizable':
        break
      case 'undecided':
        undecided ??= { outcome: 'undecided', key, reason: search.reason }
        break
      case 'violation': {
        const op = relevant[search.blocked]
        assert(op !== undefined, 'a violation names the blocked operation')
        const prefix = relevant.filter((candidate) => candidate.invokeAt < op.returnAt)
        return { outcome: 'violation', key, op, ops: prefix, message: violationMessage(key, op, prefix.length) }
      }
    }
  }
  return undecided ?? { outcome: 'linearizable' }
}

/** @throws InvalidCheckOptionError */
export function validateOptions (options: CheckOptions): void {
  const { maxSteps, timeBudgetMs } = options
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps >= 0)) {
    throw new InvalidCheckOptionError(`maxSteps must be a non-negative integer, got ${maxSteps}`, 'maxSteps')
  }
  if (timeBudgetMs !== undefined && !(Number.isFinite(timeBudgetMs) && timeBudgetMs >= 0)) {
    throw new InvalidCheckOptionError(`timeBudgetMs must be a non-negative finite number, got ${timeBudgetMs}`, 'timeBudgetMs')
  }
}

/**
 * The operations of one key that can constrain the search, in invocation order:
 * - `fail` operations did not happen, so they are removed;
 * - an `info` read returned nothing, so any order explains it: removed;
 * - an `info` write or cas whose new value nobody observes (no `ok` read returns it, no kept
 *   cas expects it) is removed too. Leaving it out of a linearization never breaks one: the
 *   span where the register would hold its value contains no read of that value and no cas
 *   expecting it, so only state-independent writes can follow. Removing these is what keeps
 *   histories with many timed-out writes tractable, since each optional operation kept can
 *   double the number of states the search must remember.
 */
export function relevantOperations (ops: readonly Operation[]): Operation[] {
  let kept = ops.filter((op) => op.outcome === 'ok' || (op.outcome === 'info' && op.f !== 'read'))
  for (;;) {
    const observed = new Set<Scalar | null>()
    for (const op of kept) {
      if (op.f === 'read') observed.add(op.value as Scalar | null)
      else if (op.f === 'cas' && isCasValue(op.value)) observed.add(op.value[0])
    }
    const next = kept.filter((op) => op.outcome === 'ok' || op.f === 'read' || observed.has(newValueOf(op)))
    if (next.length === kept.length) return kept
    kept = next
  }
}

function newValueOf (op: Operation): Scalar | null {
  if (op.f === 'cas') return isCasValue(op.value) ? op.value[1] : null
  return isScalar(op.value) ? op.value : null
}

function toSearchOp (op: Operation): SearchOp<RegisterInput> {
  return { callAt: op.invokeAt, returnAt: op.returnAt, input: toRegisterInput(op) }
}

export function toRegisterInput (op: Operation): RegisterInput {
  switch (op.f) {
    case 'read':
      return { f: 'read', value: op.value as Scalar | null }
    case 'write':
      assert(isScalar(op.value), () => `write without a value: ${formatValue(op.value)}`)
      return { f: 'write', value: op.value }
    case 'cas':
      assert(isCasValue(op.value), () => `cas without [expected, new]: ${formatValue(op.value)}`)
      return { f: 'cas', expected: op.value[0], next: op.value[1] }
  }
}

function violationMessage (key: Key, op: Operation, prefixLength: number): string {
  const what = registerModel.describe(toRegisterInput(op))
  const where = `process ${JSON.stringify(op.process)}, invoked at line ${op.invokeLine}, returned at line ${op.returnLine ?? '?'}`
  return `key ${JSON.stringify(key)}: ${what} (${where}) is not possible in any order of the ${prefixLength} operations invoked before it returned`
}
