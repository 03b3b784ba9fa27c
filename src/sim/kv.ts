import type { ApplyContext, StateMachine } from '../contracts/index.js'

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
