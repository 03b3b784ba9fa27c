import type { HistoryEvent, HistoryValue, Key, OpFunction, Process } from '../../../src/sim/lincheck/index.js'

interface Open {
  readonly f: OpFunction
  readonly key: Key
  readonly value: HistoryValue
}

/**
 * Writes test histories the way a client would see them, one event at a time, so each table
 * case reads top to bottom in real-time order. Completions reuse the invoke's f, key and value.
 */
export class HistoryBuilder {
  readonly events: HistoryEvent[] = []
  private readonly open = new Map<Process, Open>()

  invoke (process: Process, f: OpFunction, key: Key, value: HistoryValue = null): this {
    this.open.set(process, { f, key, value })
    return this.push(process, 'invoke', { f, key, value })
  }

  /** For a read, `value` is the value read; for write and cas it defaults to the invoked value. */
  ok (process: Process, value?: HistoryValue): this {
    const open = this.take(process)
    return this.push(process, 'ok', { ...open, value: value === undefined ? open.value : value })
  }

  fail (process: Process): this {
    return this.push(process, 'fail', this.take(process))
  }

  info (process: Process): this {
    return this.push(process, 'info', this.take(process))
  }

  write (process: Process, key: Key, value: HistoryValue): this {
    return this.invoke(process, 'write', key, value).ok(process)
  }

  read (process: Process, key: Key, value: HistoryValue): this {
    return this.invoke(process, 'read', key).ok(process, value)
  }

  cas (process: Process, key: Key, expected: string | number | null, next: string | number, outcome: 'ok' | 'fail' = 'ok'): this {
    this.invoke(process, 'cas', key, [expected, next])
    return outcome === 'ok' ? this.ok(process) : this.fail(process)
  }

  text (): string {
    return this.events.map((event) => JSON.stringify(event)).join('\n') + '\n'
  }

  private take (process: Process): Open {
    const open = this.open.get(process)
    if (open === undefined) throw new Error(`test bug: process ${process} has nothing outstanding`)
    this.open.delete(process)
    return open
  }

  private push (process: Process, type: HistoryEvent['type'], body: Open): this {
    this.events.push({ process, type, f: body.f, key: body.key, value: body.value, time: this.events.length })
    return this
  }
}

export function history (): HistoryBuilder {
  return new HistoryBuilder()
}
