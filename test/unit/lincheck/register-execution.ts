import type { HistoryEvent, Key, OpFunction, Scalar } from '../../../src/sim/lincheck/index.js'

/**
 * A concurrent execution against a real sequential register store. Every operation takes
 * effect at one instant between its invoke and its completion (or never, for the ones that
 * crash first), and its result is computed from the store at that instant, so the emitted
 * history is linearizable by construction: the effect order is a witness.
 */
export interface ExecutionOptions {
  readonly seed: number
  readonly processes: number
  readonly keys: number
  /** Scheduling decisions; each one invokes, applies or completes one operation. */
  readonly steps: number
  /** Out of 100: how often an operation ends with `info` (before or after taking effect). */
  readonly infoPercent: number
  /** Out of 100: how often a write or cas is abandoned with `fail` before taking effect. */
  readonly failPercent: number
  /** Distinct values to draw from; 0 makes every written value unique. */
  readonly valueSpace: number
}

type OpValue = Scalar | null | readonly [Scalar | null, Scalar]

type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'invoked', readonly f: OpFunction, readonly key: Key, readonly value: OpValue }
  | { readonly kind: 'applied', readonly f: OpFunction, readonly key: Key, readonly value: OpValue, readonly result: Scalar | null, readonly succeeded: boolean }

/** mulberry32: tiny and deterministic, which is all a test generator needs. */
export function prng (seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) % n)
  }
}

export function registerExecution (options: ExecutionOptions): HistoryEvent[] {
  const choose = prng(options.seed)
  const store = new Map<Key, Scalar>()
  const phases: Phase[] = Array.from({ length: options.processes }, () => ({ kind: 'idle' }))
  const events: HistoryEvent[] = []
  const written: Scalar[] = []
  let counter = 0
  const freshValue = (): Scalar => {
    counter++
    const value = options.valueSpace === 0 ? `v${counter}` : counter % options.valueSpace
    written.push(value)
    return value
  }
  const emit = (process: number, type: HistoryEvent['type'], f: OpFunction, key: Key, value: HistoryEvent['value']): void => {
    events.push({ process, type, f, key, value, time: events.length })
  }
  for (let step = 0; step < options.steps; step++) {
    const process = choose(options.processes)
    const phase = phases[process] ?? { kind: 'idle' }
    switch (phase.kind) {
      case 'idle': {
        const key = `k${choose(options.keys)}`
        const f = (['read', 'write', 'cas'] as const)[choose(3)] ?? 'read'
        let value: OpValue = null
        if (f === 'write') value = freshValue()
        if (f === 'cas') {
          // Half the time expect what is there now, so a good share of cas operations succeed.
          const expected = choose(2) === 0 ? store.get(key) ?? null : written[choose(written.length + 1)] ?? null
          value = [expected, freshValue()]
        }
        emit(process, 'invoke', f, key, value)
        phases[process] = { kind: 'invoked', f, key, value }
        break
      }
      case 'invoked': {
        const roll = choose(100)
        if (roll < options.infoPercent) {
          emit(process, 'info', phase.f, phase.key, phase.value)
          phases[process] = { kind: 'idle' }
        } else if (phase.f !== 'read' && roll < options.infoPercent + options.failPercent) {
          emit(process, 'fail', phase.f, phase.key, phase.value)
          phases[process] = { kind: 'idle' }
        } else {
          phases[process] = apply(phase, store)
        }
        break
      }
      case 'applied': {
        if (phase.f === 'cas' && !phase.succeeded) emit(process, 'fail', phase.f, phase.key, phase.value)
        else if (choose(100) < options.infoPercent) emit(process, 'info', phase.f, phase.key, phase.value)
        else emit(process, 'ok', phase.f, phase.key, phase.f === 'read' ? phase.result : phase.value)
        phases[process] = { kind: 'idle' }
        break
      }
    }
  }
  return events
}

function apply (phase: Extract<Phase, { kind: 'invoked' }>, store: Map<Key, Scalar>): Phase {
  const current = store.get(phase.key) ?? null
  const { f, key, value } = phase
  switch (f) {
    case 'read':
      return { kind: 'applied', f, key, value, result: current, succeeded: true }
    case 'write':
      store.set(key, value as Scalar)
      return { kind: 'applied', f, key, value, result: null, succeeded: true }
    case 'cas': {
      const [expected, next] = value as readonly [Scalar | null, Scalar]
      const succeeded = expected === current
      if (succeeded) store.set(key, next)
      return { kind: 'applied', f, key, value, result: null, succeeded }
    }
  }
}
