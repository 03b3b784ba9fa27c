import { ClientLoop } from './client-loop.js'
import type { HistoryEvent, HistoryValue } from './lincheck/index.js'
import type { KvCommand } from './kv.js'
import type { SimCluster } from './cluster.js'
import type { Prng } from './prng.js'

export interface ClientOptions {
  readonly process: number
  readonly keys: readonly string[]
  /** Per-attempt timeout, ms of virtual time. */
  readonly attemptTimeoutMs: number
  /** Attempts at different nodes before the outcome is given up as unknown. */
  readonly attempts: number
  readonly thinkMsMax: number
  /** Fraction of operations that are reads and cas (the rest are writes). */
  readonly readRatio: number
  readonly casRatio: number
}

/**
 * A simulated client process: one operation at a time against random nodes, recorded as a
 * history for the linearizability checker. A write keeps its session (client, seq) across
 * attempts at different nodes, so the group applies it at most once; if no attempt returns,
 * its outcome is unknown (`info`), unless no attempt ever reached a running node (`fail`).
 */
export class SimClient extends ClientLoop {
  readonly history: HistoryEvent[]
  ok = 0
  failed = 0
  unknown = 0
  private readonly cluster: SimCluster
  private readonly prng: Prng
  private readonly options: ClientOptions
  private readonly clientId: string
  private seq = 0
  private valueCounter = 0
  private lastSeen: number | null = null

  constructor (cluster: SimCluster, prng: Prng, history: HistoryEvent[], options: ClientOptions) {
    super(cluster.scheduler)
    this.cluster = cluster
    this.prng = prng
    this.history = history
    this.options = options
    this.clientId = `c${options.process}`
  }

  protected async loop (): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.prng.int(0, this.options.thinkMsMax + 1))
      if (this.stopped) break
      const r = this.prng.float()
      const key = this.prng.pick(this.options.keys)
      if (r < this.options.readRatio) await this.read(key)
      else if (r < this.options.readRatio + this.options.casRatio) await this.cas(key)
      else await this.write(key)
    }
  }

  private async write (key: string): Promise<void> {
    const value = this.nextValue()
    this.record('invoke', 'write', key, value)
    const outcome = await this.submit({ f: 'write', key, value })
    this.record(outcome === 'mismatch' ? 'fail' : outcome, 'write', key, value)
  }

  private async cas (key: string): Promise<void> {
    const expected = this.prng.chance(0.5) ? this.lastSeen : null
    const value = this.nextValue()
    const pair: HistoryValue = [expected, value]
    this.record('invoke', 'cas', key, pair)
    const outcome = await this.submit({ f: 'cas', key, expected, value })
    if (outcome === 'mismatch') this.record('fail', 'cas', key, pair)
    else this.record(outcome, 'cas', key, pair)
  }

  private async read (key: string): Promise<void> {
    this.record('invoke', 'read', key, null)
    for (let attempt = 0; attempt < this.options.attempts && !this.stopped; attempt++) {
      const peer = this.cluster.peer(this.prng.pick(this.cluster.memberIds()))
      if (peer === undefined) { await this.sleep(this.options.attemptTimeoutMs / 10); continue }
      const ctl = this.timeout(this.options.attemptTimeoutMs)
      try {
        const v = await peer.read({ key }, { signal: ctl.signal })
        ctl.cancel()
        this.lastSeen = v
        this.record('ok', 'read', key, v)
        return
      } catch {
        ctl.cancel()
      }
    }
    // A read has no effect, so a read that never returned is a plain failure.
    this.record('fail', 'read', key, null)
  }

  private async submit (command: KvCommand): Promise<'ok' | 'mismatch' | 'fail' | 'info'> {
    const session = { client: this.clientId, seq: ++this.seq }
    let reached = false
    for (let attempt = 0; attempt < this.options.attempts && !this.stopped; attempt++) {
      const peer = this.cluster.peer(this.prng.pick(this.cluster.memberIds()))
      if (peer === undefined) { await this.sleep(this.options.attemptTimeoutMs / 10); continue }
      this.cluster.checker.proposedCommand({ client: session.client, seq: session.seq, data: new TextEncoder().encode(JSON.stringify(command)) })
      reached = true
      const ctl = this.timeout(this.options.attemptTimeoutMs)
      try {
        const result = await peer.submit(command, { session, signal: ctl.signal })
        ctl.cancel()
        return result.ok ? 'ok' : 'mismatch'
      } catch {
        ctl.cancel()
      }
    }
    return reached ? 'info' : 'fail'
  }

  private nextValue (): number {
    return this.options.process * 1_000_000 + ++this.valueCounter
  }

  private record (type: HistoryEvent['type'], f: HistoryEvent['f'], key: string, value: HistoryValue): void {
    if (type === 'ok') this.ok++
    else if (type === 'fail') this.failed++
    else if (type === 'info') this.unknown++
    this.history.push({ process: this.options.process, type, f, key, value, time: Math.round(this.cluster.scheduler.now()) })
  }
}
