import { MalformedHistoryError } from './errors.js'
import { sameValue } from './history.js'
import type { HistoryEvent, HistoryValue, Key, OpFunction, Process } from './history.js'

/**
 * One client operation: an invoke paired with its completion. Positions (`invokeAt`,
 * `returnAt`) are indexes into the event array, which is the real-time order.
 */
export interface Operation {
  /** Order of invocation in the whole history, from 0. */
  readonly id: number
  readonly process: Process
  readonly f: OpFunction
  readonly key: Key
  /** write: the value written; cas: `[expected, new]`; read: the value read (`null` unless `ok`). */
  readonly value: HistoryValue
  /** `info` also covers an invoke that was never completed. */
  readonly outcome: 'ok' | 'fail' | 'info'
  readonly invokeLine: number
  /** Line of the completion; `undefined` when the history ends first. */
  readonly returnLine: number | undefined
  readonly invokeAt: number
  /** Position of an `ok` completion. `Infinity` for `info`: it may take effect at any later time. */
  readonly returnAt: number
}

interface Pending {
  readonly id: number
  readonly event: HistoryEvent
  readonly invokeAt: number
  readonly invokeLine: number
}

function lineOf (event: HistoryEvent, index: number): number {
  return event.line ?? index + 1
}

/**
 * Pairs invokes with completions, process by process, and checks the rules that span events.
 * Events must already have passed `validateEvent`. Operations come back in invocation order.
 * @throws MalformedHistoryError
 */
export function pairOperations (events: readonly HistoryEvent[]): Operation[] {
  const pending = new Map<Process, Pending>()
  const ops: Array<Operation | undefined> = []
  let nextId = 0
  events.forEach((event, index) => {
    const line = lineOf(event, index)
    const open = pending.get(event.process)
    if (event.type === 'invoke') {
      if (open !== undefined) {
        throw new MalformedHistoryError(line, `process ${JSON.stringify(event.process)} invokes again while its ${open.event.f} from line ${open.invokeLine} is outstanding`)
      }
      pending.set(event.process, { id: nextId, event, invokeAt: index, invokeLine: line })
      ops.push(undefined)
      nextId++
      return
    }
    if (open === undefined) {
      throw new MalformedHistoryError(line, `${event.type} of process ${JSON.stringify(event.process)} has no outstanding invoke`)
    }
    const invoke = open.event
    if (invoke.f !== event.f || invoke.key !== event.key) {
      throw new MalformedHistoryError(line, `${event.type} ${event.f} on key ${JSON.stringify(event.key)} does not match the ${invoke.f} on key ${JSON.stringify(invoke.key)} invoked at line ${open.invokeLine}`)
    }
    if (event.type === 'ok' && invoke.f !== 'read' && !sameValue(invoke.value, event.value)) {
      throw new MalformedHistoryError(line, `ok ${event.f} value ${JSON.stringify(event.value)} differs from the invoked value ${JSON.stringify(invoke.value)} at line ${open.invokeLine}`)
    }
    pending.delete(event.process)
    ops[open.id] = {
      id: open.id,
      process: invoke.process,
      f: invoke.f,
      key: invoke.key,
      value: invoke.f === 'read' ? (event.type === 'ok' ? event.value : null) : invoke.value,
      outcome: event.type === 'ok' ? 'ok' : event.type === 'fail' ? 'fail' : 'info',
      invokeLine: open.invokeLine,
      returnLine: line,
      invokeAt: open.invokeAt,
      returnAt: event.type === 'ok' ? index : Infinity
    }
  })
  // An invoke that never completed is indistinguishable from one that completed with info.
  for (const open of pending.values()) {
    const invoke = open.event
    ops[open.id] = {
      id: open.id,
      process: invoke.process,
      f: invoke.f,
      key: invoke.key,
      value: invoke.value,
      outcome: 'info',
      invokeLine: open.invokeLine,
      returnLine: undefined,
      invokeAt: open.invokeAt,
      returnAt: Infinity
    }
  }
  return ops as Operation[]
}

/** Groups operations by key, keys in order of first invocation (P-compositionality: each key is its own register). */
export function operationsByKey (ops: readonly Operation[]): Map<Key, Operation[]> {
  const byKey = new Map<Key, Operation[]>()
  for (const op of ops) {
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [op])
    else list.push(op)
  }
  return byKey
}
