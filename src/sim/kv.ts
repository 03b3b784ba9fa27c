import type { ApplyContext, StateMachine } from '../contracts/index.js'
import type { SimApplication, SimOperation, Workload } from './app.js'
import type { SequentialModel } from './lincheck/sequential.js'

/** Commands of the generic replicated register store used by tests, examples and the VOPR. */
export type KvCommand =
  | { readonly f: 'write', readonly key: string, readonly value: number }
  | { readonly f: 'cas', readonly key: string, readonly expected: number | null, readonly value: number }

/** `ok` is false only for a cas whose expected value did not match (it had no effect). */
export interface KvResult { readonly ok: boolean }
export interface KvQuery { readonly key: string }
export type KvAnswer = number | null

/** A deterministic map of registers. */
export class KvStateMachine implements StateMachine<KvCommand, KvResult, KvQuery, KvAnswer> {
  private data = new Map<string, number>()

  apply (command: KvCommand, _ctx: ApplyContext): KvResult {
    switch (command.f) {
      case 'write':
        this.data.set(command.key, command.value)
        return { ok: true }
      case 'cas': {
        const current = this.data.get(command.key) ?? null
        if (current !== command.expected) return { ok: false }
        this.data.set(command.key, command.value)
        return { ok: true }
      }
    }
  }

  query (query: KvQuery): KvAnswer {
    return this.data.get(query.key) ?? null
  }

  /** Canonical form of the state: equal states give equal strings. */
  digest (): string {
    return JSON.stringify([...this.data].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
  }

  snapshot (): Uint8Array {
    return new TextEncoder().encode(this.digest())
  }

  restore (bytes: Uint8Array): void {
    const entries = JSON.parse(new TextDecoder().decode(bytes)) as Array<[string, number]>
    this.data = new Map(entries)
  }
}

/**
 * The KV store's sequential specification for the generic checker: one register per key
 * (`partition` by key), `null` until written. The simulator's default KV run checks with the
 * specialised register checker (`checkHistory`, which also drops unobserved unknown writes);
 * this model is the same specification in the shape any application uses (`kvApp`).
 */
export const kvModel: SequentialModel<number | null, SimOperation<KvCommand, KvQuery>, KvResult | KvAnswer> = {
  name: 'kv',
  init: () => null,
  step (state, op) {
    if ('read' in op) return [state, state]
    const command = op.submit
    if (command.f === 'write' || command.expected === state) return [command.value, { ok: true }]
    return [state, { ok: false }]
  },
  partition: op => ('read' in op ? op.read.key : op.submit.key)
}

/**
 * Reads, writes and compare-and-sets on k1..k3 (40 % reads, 20 % cas), with written values
 * unique per client and operation. Stateless, so one application object serves any number of runs.
 */
export const kvWorkload: Workload<KvCommand, KvQuery> = (prng, { process, count }) => {
  const r = prng.float()
  const key = prng.pick(KV_WORKLOAD_KEYS)
  if (r < 0.4) return { read: { key } }
  const value = process * 1_000_000 + count + 1
  if (r >= 0.6) return { submit: { f: 'write', key, value } }
  // A value this client may have written before, or "never written".
  const expected = prng.chance(0.5) || count === 0 ? null : process * 1_000_000 + prng.int(1, count + 1)
  return { submit: { f: 'cas', key, expected, value } }
}

const KV_WORKLOAD_KEYS = ['k1', 'k2', 'k3']

/** The KV store as an application like any other: `runSeed({ seed, app: kvApp })`. */
export const kvApp: SimApplication<KvCommand, KvResult, KvQuery, KvAnswer, number | null> = {
  stateMachine: () => new KvStateMachine(),
  workload: kvWorkload,
  model: kvModel
}
