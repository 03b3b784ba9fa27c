import { MalformedHistoryError } from './errors.js'

/**
 * The client-history vocabulary shared by the JSON-lines format (DESIGN.md, src/sim) and by the
 * simulator, which builds `HistoryEvent` objects directly. Everything is plain data.
 */

/** Keys and values are JSON scalars; two are the same only under strict equality (`1 !== "1"`). */
export type Scalar = string | number
export type Key = Scalar
/** A client process. At most one operation per process is outstanding at a time. */
export type Process = string | number
export type EventType = 'invoke' | 'ok' | 'fail' | 'info'
export type OpFunction = 'read' | 'write' | 'cas'
/** `[expected, new]`. `expected` may be `null`: "the key was never written". */
export type CasValue = readonly [expected: Scalar | null, next: Scalar]
export type HistoryValue = Scalar | null | CasValue

/**
 * One line of a client history. The position of an event in its history is its real-time
 * order; `time` is informational and may tie.
 *
 * - `invoke` starts an operation; the next `ok`/`fail`/`info` of the same process completes it.
 * - `ok`: it took effect. A read's `ok` value is the value read (`null`: never written).
 * - `fail`: it definitely did not take effect.
 * - `info`: unknown. It may have taken effect at any point after its invoke, or never.
 */
export interface HistoryEvent {
  readonly process: Process
  readonly type: EventType
  readonly f: OpFunction
  readonly key: Key
  readonly value: HistoryValue
  readonly time: number
  /** 1-based line in the JSON-lines text. Events built in code may omit it; their 1-based position in the array is used in errors instead. */
  readonly line?: number
}

const eventTypes: ReadonlySet<string> = new Set<EventType>(['invoke', 'ok', 'fail', 'info'])
const opFunctions: ReadonlySet<string> = new Set<OpFunction>(['read', 'write', 'cas'])

export function isScalar (value: unknown): value is Scalar {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

export function isCasValue (value: unknown): value is CasValue {
  return Array.isArray(value) && value.length === 2 &&
    (value[0] === null || isScalar(value[0])) && isScalar(value[1])
}

/** Strict equality, extended element-wise to cas pairs. */
export function sameValue (a: HistoryValue, b: HistoryValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a[0] === b[0] && a[1] === b[1]
  return a === b
}

export function formatValue (value: HistoryValue): string {
  return JSON.stringify(value)
}

/**
 * Checks the shape of one event and returns a clean copy (unknown fields dropped, cas pairs
 * copied and frozen). Rules that span events (pairing per process) live in `pairOperations`.
 * @throws MalformedHistoryError
 */
export function validateEvent (raw: unknown, line: number): HistoryEvent {
  const bad = (reason: string): never => { throw new MalformedHistoryError(line, reason) }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('an event must be a JSON object')
  const record = raw as Record<string, unknown>
  for (const field of ['process', 'type', 'f', 'key', 'value', 'time']) {
    if (!(field in record)) bad(`missing field "${field}"`)
  }
  const { process, type, f, key, value, time } = record
  if (!isScalar(process)) bad(`"process" must be a string or a finite number, got ${JSON.stringify(process)}`)
  if (typeof type !== 'string' || !eventTypes.has(type)) bad(`unknown "type" ${JSON.stringify(type)}; expected invoke, ok, fail or info`)
  if (typeof f !== 'string' || !opFunctions.has(f)) bad(`unknown "f" ${JSON.stringify(f)}; expected read, write or cas`)
  if (!isScalar(key)) bad(`"key" must be a string or a finite number, got ${JSON.stringify(key)}`)
  if (typeof time !== 'number' || !Number.isFinite(time)) bad(`"time" must be a finite number, got ${JSON.stringify(time)}`)
  const eventType = type as EventType
  const fn = f as OpFunction
  // `fail` and `info` completions carry no information the checker uses, so null is accepted there.
  const unknownOutcome = eventType === 'fail' || eventType === 'info'
  let clean: HistoryValue
  switch (fn) {
    case 'read':
      if (eventType === 'invoke' && value !== null) bad(`a read invoke must have value null, got ${JSON.stringify(value)}`)
      if (value !== null && !isScalar(value)) bad(`a read value must be a string, a number or null, got ${JSON.stringify(value)}`)
      clean = value as Scalar | null
      break
    case 'write':
      if (!(isScalar(value) || (unknownOutcome && value === null))) bad(`a write value must be a string or a number, got ${JSON.stringify(value)}`)
      clean = value as Scalar | null
      break
    case 'cas':
      if (unknownOutcome && value === null) {
        clean = null
      } else if (isCasValue(value)) {
        clean = Object.freeze([value[0], value[1]] as const)
      } else {
        return bad(`a cas value must be [expected, new] (expected: scalar or null, new: scalar), got ${JSON.stringify(value)}`)
      }
      break
  }
  const event: HistoryEvent = { process: process as Process, type: eventType, f: fn, key: key as Key, value: clean, time: time as number, line }
  return event
}
