import { assert } from '../../util/assert.js'
import { canonical } from './canonical.js'
import { validateOptions } from './check.js'
import type { CheckOptions } from './check.js'
import { InvalidModelError, MalformedHistoryError } from './errors.js'
import { hashString } from './hash.js'
import type { Key, Process } from './history.js'
import type { Model, StepResult } from './model.js'
import { linearize } from './search.js'
import type { SearchOp } from './search-op.js'

/**
 * The sequential specification of an application, in porcupine's shape: what one operation
 * does when operations run one at a time. The checker asks whether some order of the
 * concurrent history, consistent with real time, makes every `ok` output the one this model
 * gives. Like the register model of `checkHistory`, this is what "correct" means for the
 * replicated state machine; it is usually a few lines, and independent of the implementation
 * under test (reusing the state machine as its own model would hide its bugs).
 *
 * `step` must be pure: it returns a new state and never changes the one it is given (the
 * search keeps earlier states and comes back to them). The checker detects a `step` that
 * mutates its argument and throws `InvalidModelError`.
 */
export interface SequentialModel<S, I, O> {
  /** Shown in violation messages. */
  readonly name?: string
  init (): S
  /** The state after `input`, and the output a client would see. */
  step (state: S, input: I): readonly [S, O]
  /** Whether an observed output is the one the model gives (default: equal canonical forms, see `canonical`). */
  equal? (observed: O, expected: O): boolean
  /**
   * Inputs with different keys touch independent parts of the state (say, different accounts),
   * so each key's sub-history is checked on its own against a fresh `init()` (Herlihy & Wing's
   * locality): much faster than one search over everything. Only sound when operations on
   * different keys never affect each other's outputs.
   */
  partition? (input: I): Key
  /**
   * A string that is equal for equal states and different otherwise; the search remembers
   * explored (operations, state) pairs by it. Default: `canonical(state)`, which handles plain
   * objects, arrays, Map, Set and primitives.
   */
  stateKey? (state: S): string
  /** One-line description of an input for violation messages (default: its canonical form). */
  describe? (input: I): string
}

/**
 * One event of a client history against a sequential model, in real-time order (array
 * position is the order; `time` is the virtual time in ms, for messages). A process has at most
 * one operation outstanding; its next `ok`, `fail` or `info` completes it.
 * - `ok`: the operation took effect and returned `output`.
 * - `fail`: it definitely did not take effect (removed before checking).
 * - `info`: unknown, it may have taken effect at any point after its invoke, or never. An
 *   invoke that is never completed counts as `info`.
 */
export type ModelHistoryEvent<I, O> =
  | { readonly process: Process, readonly type: 'invoke', readonly input: I, readonly time: number }
  | { readonly process: Process, readonly type: 'ok', readonly output: O, readonly time: number }
  | { readonly process: Process, readonly type: 'fail' | 'info', readonly time: number }

/** An invoke paired with its completion. Positions index the event array. */
export interface ModelOperation<I, O> {
  /** Order of invocation in the whole history, from 0. */
  readonly id: number
  readonly process: Process
  readonly input: I
  /** Set for `ok` only. */
  readonly output: O | undefined
  readonly outcome: 'ok' | 'fail' | 'info'
  readonly invokeAt: number
  /** Position of an `ok` completion; `Infinity` for `info` (it may take effect at any later time). */
  readonly returnAt: number
  readonly invokeTime: number
  /** Time of the completion event; undefined when the history ends first. */
  readonly returnTime: number | undefined
}

export type ModelCheckResult<I, O> =
  | { readonly outcome: 'linearizable' }
  | {
    readonly outcome: 'violation'
    /** The partition key (`undefined` when the model has no `partition`). */
    readonly partition: Key | undefined
    readonly message: string
    /** The operation that no order of the operations before its return can explain. */
    readonly op: ModelOperation<I, O>
    /** The partition's operations invoked before `op` returned (fail excluded), in invocation order: a non-linearizable prefix. */
    readonly ops: ReadonlyArray<ModelOperation<I, O>>
  }
  | { readonly outcome: 'undecided', readonly partition: Key | undefined, readonly reason: string }

/**
 * Checks a history against a sequential model for linearizability (the search of `linearize`:
 * Wing & Gong with Lowe's memoisation, porcupine's approach), one partition at a time when
 * the model has `partition`. The first violation wins over an undecided partition.
 * @throws MalformedHistoryError when events do not pair up (a completion without an invoke, two invokes outstanding)
 * @throws InvalidCheckOptionError
 * @throws InvalidModelError when the model's `step` throws or mutates its argument
 */
export function checkModelHistory<S, I, O> (model: SequentialModel<S, I, O>, events: ReadonlyArray<ModelHistoryEvent<I, O>>, options: CheckOptions = {}): ModelCheckResult<I, O> {
  validateOptions(options)
  const ops = pairModelOperations(events)
  const byPartition = new Map<Key | undefined, Array<ModelOperation<I, O>>>()
  for (const op of ops) {
    const key = model.partition?.(op.input)
    const list = byPartition.get(key)
    if (list === undefined) byPartition.set(key, [op])
    else list.push(op)
  }
  const now = (): number => performance.now()
  const deadlineMs = options.timeBudgetMs === undefined ? undefined : now() + options.timeBudgetMs
  const searchModel = adapt(model)
  let undecided: ModelCheckResult<I, O> | undefined
  for (const [partition, all] of byPartition) {
    const relevant = all.filter(op => op.outcome !== 'fail')
    const searchOps = relevant.map((op): SearchOp<Attempt<I, O>> => ({ callAt: op.invokeAt, returnAt: op.returnAt, input: new Attempt(op) }))
    const search = linearize(searchModel, searchOps, { maxSteps: options.maxSteps, deadlineMs, now })
    switch (search.outcome) {
      case 'linearizable':
        break
      case 'undecided':
        undecided ??= { outcome: 'undecided', partition, reason: search.reason }
        break
      case 'violation': {
        const op = relevant[search.blocked]
        assert(op !== undefined, 'a violation names the blocked operation')
        const prefix = relevant.filter(candidate => candidate.invokeAt < op.returnAt)
        const where = partition === undefined ? '' : `, partition ${JSON.stringify(partition)}`
        const message = `model ${JSON.stringify(model.name ?? 'model')}${where}: ${formatModelOperation(model, op)} is not possible in any order of the ${prefix.length} operations invoked before it returned`
        return { outcome: 'violation', partition, op, ops: prefix, message }
      }
    }
  }
  return undecided ?? { outcome: 'linearizable' }
}

/**
 * Pairs invokes with completions, process by process; operations come back in invocation order.
 * @throws MalformedHistoryError (the line is the 1-based position of the event)
 */
export function pairModelOperations<I, O> (events: ReadonlyArray<ModelHistoryEvent<I, O>>): Array<ModelOperation<I, O>> {
  const pending = new Map<Process, { id: number, input: I, invokeAt: number, invokeTime: number }>()
  const ops: Array<ModelOperation<I, O> | undefined> = []
  events.forEach((event, index) => {
    const open = pending.get(event.process)
    if (event.type === 'invoke') {
      if (open !== undefined) throw new MalformedHistoryError(index + 1, `process ${JSON.stringify(event.process)} invokes again while its operation from event ${open.invokeAt + 1} is outstanding`)
      pending.set(event.process, { id: ops.length, input: event.input, invokeAt: index, invokeTime: event.time })
      ops.push(undefined)
      return
    }
    if (open === undefined) throw new MalformedHistoryError(index + 1, `${event.type} of process ${JSON.stringify(event.process)} has no outstanding invoke`)
    pending.delete(event.process)
    ops[open.id] = {
      id: open.id,
      process: event.process,
      input: open.input,
      output: event.type === 'ok' ? event.output : undefined,
      outcome: event.type,
      invokeAt: open.invokeAt,
      returnAt: event.type === 'ok' ? index : Infinity,
      invokeTime: open.invokeTime,
      returnTime: event.time
    }
  })
  for (const [process, open] of pending) {
    ops[open.id] = { id: open.id, process, input: open.input, output: undefined, outcome: 'info', invokeAt: open.invokeAt, returnAt: Infinity, invokeTime: open.invokeTime, returnTime: undefined }
  }
  return ops as Array<ModelOperation<I, O>>
}

/** `process 3 submit {"add":2} → 7 [T=1.234 → T=1.250]`. */
export function formatModelOperation<I, O> (model: Pick<SequentialModel<unknown, I, O>, 'describe'>, op: ModelOperation<I, O>): string {
  const what = model.describe?.(op.input) ?? canonical(op.input)
  const result = op.outcome === 'ok' ? ` → ${canonical(op.output)}` : ''
  const end = op.returnTime === undefined
    ? 'never answered'
    : op.outcome === 'ok' ? `T=${seconds(op.returnTime)}` : `${op.outcome} at T=${seconds(op.returnTime)}`
  return `process ${JSON.stringify(op.process)} ${what}${result} [T=${seconds(op.invokeTime)} → ${end}]`
}

const precedingShown = 8
const linesMax = 40

/** The violation message, the operations concurrent with the blocked one, and the last few before it. */
export function formatModelViolation<I, O> (model: Pick<SequentialModel<unknown, I, O>, 'describe'>, result: Extract<ModelCheckResult<I, O>, { outcome: 'violation' }>): string {
  const { op, ops } = result
  const concurrent = ops.filter(other => other !== op && other.returnAt > op.invokeAt)
  const preceding = ops.filter(other => other.returnAt < op.invokeAt).slice(-precedingShown)
  const lines = [
    'not linearizable:',
    `  ${result.message}`
  ]
  const section = (title: string, list: ReadonlyArray<ModelOperation<I, O>>): void => {
    if (list.length === 0) return
    lines.push(`  ${title}:`)
    const shown = list.slice(0, linesMax)
    for (const other of shown) lines.push(`    ${formatModelOperation(model, other)}`)
    if (list.length > shown.length) lines.push(`    … ${list.length - shown.length} more`)
  }
  section('concurrent with it', concurrent)
  section(`last ${preceding.length} completed before it was invoked`, preceding)
  return lines.join('\n')
}

function seconds (ms: number): string {
  return (ms / 1000).toFixed(3)
}

/**
 * One operation as the search tries it. `toJSON` gives the canonical form, because the search
 * treats optional operations with equal JSON as interchangeable, and plain `JSON.stringify`
 * would print every Map and Set as `{}`.
 */
class Attempt<I, O> {
  readonly input: I
  readonly output: O | undefined
  readonly known: boolean
  private readonly key: string

  constructor (op: ModelOperation<I, O>) {
    this.input = op.input
    this.known = op.outcome === 'ok'
    this.output = op.output
    this.key = this.known ? `${canonical(op.input)}→${canonical(op.output)}` : canonical(op.input)
  }

  toJSON (): string {
    return this.key
  }
}

interface Keyed<S> {
  readonly state: S
  readonly key: string
}

/** The user's model in the search's terms: states travel with their canonical key. */
function adapt<S, I, O> (model: SequentialModel<S, I, O>): Model<Keyed<S>, Attempt<I, O>> {
  const stateKey = model.stateKey ?? canonical
  const equal = model.equal ?? ((a: O, b: O) => canonical(a) === canonical(b))
  const name = JSON.stringify(model.name ?? 'model')
  const describe = (input: I): string => model.describe?.(input) ?? canonical(input)
  return {
    name: model.name ?? 'model',
    init: () => {
      const state = model.init()
      return { state, key: stateKey(state) }
    },
    step (from, attempt): StepResult<Keyed<S>> {
      let result: readonly [S, O]
      try {
        result = model.step(from.state, attempt.input)
      } catch (error) {
        throw new InvalidModelError(`model ${name}: step threw on ${describe(attempt.input)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
      }
      if (stateKey(from.state) !== from.key) {
        throw new InvalidModelError(`model ${name}: step changed the state it was given (on ${describe(attempt.input)}); return a new state instead`)
      }
      const [next, output] = result
      if (attempt.known && !equal(attempt.output as O, output)) return { ok: false, next: from }
      return { ok: true, next: { state: next, key: stateKey(next) } }
    },
    equal: (a, b) => a.key === b.key,
    hash: state => hashString(state.key),
    describe: attempt => describe(attempt.input)
  }
}
