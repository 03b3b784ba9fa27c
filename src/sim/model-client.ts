import { ClientLoop } from './client-loop.js'
import { describeOperation } from './app.js'
import type { SimOperation, Workload } from './app.js'
import type { SimCluster } from './cluster.js'
import { canonical } from './lincheck/canonical.js'
import type { ModelHistoryEvent } from './lincheck/sequential.js'
import type { Prng } from './prng.js'

export interface ModelClientOptions {
  readonly process: number
  /** Per-attempt timeout, ms of virtual time. */
  readonly attemptTimeoutMs: number
  /** Attempts at different nodes before the outcome is given up as unknown. */
  readonly attempts: number
  /** Think time before each operation, uniform in [0, thinkMsMax] ms. */
  readonly thinkMsMax: number
}

/** A client history of an application: the workload's operations, and what `submit` or `read` returned. */
export type AppHistoryEvent<C, R, Q, A> = ModelHistoryEvent<SimOperation<C, Q>, R | A>

/**
 * A simulated client of any application: one operation at a time, drawn by the workload,
 * against random members, recorded for the linearizability check against the application's
 * model. A command keeps its session (client, seq) across attempts at different nodes, so the
 * group applies it at most once; if no attempt returns, its outcome is unknown (`info`), unless
 * no attempt ever reached a running node (`fail`). A read has no effect, so a read that never
 * returned is a `fail`. A command whose `apply` throws never returns a result either, so it
 * ends as `info`: state machines should return errors as results.
 *
 * With a cluster trace, every completed operation is traced (`c2 submit {…} → 7`), so a
 * failing seed's replay shows what the clients saw next to what the replicas did.
 */
export class ModelClient<C, R, Q, A> extends ClientLoop {
  readonly history: Array<AppHistoryEvent<C, R, Q, A>>
  ok = 0
  failed = 0
  unknown = 0
  private readonly cluster: SimCluster<C, R, Q, A>
  private readonly prng: Prng
  private readonly workload: Workload<C, Q>
  private readonly options: ModelClientOptions
  private readonly clientId: string
  private seq = 0
  private count = 0

  constructor (cluster: SimCluster<C, R, Q, A>, prng: Prng, history: Array<AppHistoryEvent<C, R, Q, A>>, workload: Workload<C, Q>, options: ModelClientOptions) {
    super(cluster.scheduler)
    this.cluster = cluster
    this.prng = prng
    this.history = history
    this.workload = workload
    this.options = options
    this.clientId = `c${options.process}`
  }

  protected async loop (): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.prng.int(0, this.options.thinkMsMax + 1))
      if (this.stopped) break
      const op = this.workload(this.prng, { process: this.options.process, count: this.count++ })
      const invokedAt = this.cluster.scheduler.now()
      this.history.push({ process: this.options.process, type: 'invoke', input: op, time: invokedAt })
      const outcome = 'read' in op ? await this.read(op.read) : await this.submit(op.submit)
      const time = this.cluster.scheduler.now()
      const head = `${this.clientId} ${describeOperation(op)}`
      switch (outcome.type) {
        case 'ok':
          this.ok++
          this.history.push({ process: this.options.process, type: 'ok', output: outcome.output, time })
          this.cluster.trace(`${head} → ${canonical(outcome.output)}`)
          break
        case 'fail':
          this.failed++
          this.history.push({ process: this.options.process, type: 'fail', time })
          this.cluster.trace(`${head}: failed, no effect (${'read' in op ? 'no answer' : 'no replica reachable'})`)
          break
        case 'info':
          this.unknown++
          this.history.push({ process: this.options.process, type: 'info', time })
          this.cluster.trace(`${head}: no answer, outcome unknown (invoked at T=${(invokedAt / 1000).toFixed(3)})`)
          break
      }
    }
  }

  private async read (query: Q): Promise<Outcome<A>> {
    for (let attempt = 0; attempt < this.options.attempts && !this.stopped; attempt++) {
      const peer = this.cluster.peer(this.prng.pick(this.cluster.memberIds()))
      if (peer === undefined) { await this.sleep(this.options.attemptTimeoutMs / 10); continue }
      const ctl = this.timeout(this.options.attemptTimeoutMs)
      try {
        const output = await peer.read(query, { signal: ctl.signal })
        ctl.cancel()
        return { type: 'ok', output }
      } catch {
        ctl.cancel()
      }
    }
    return { type: 'fail' }
  }

  private async submit (command: C): Promise<Outcome<R>> {
    const session = { client: this.clientId, seq: ++this.seq }
    let reached = false
    for (let attempt = 0; attempt < this.options.attempts && !this.stopped; attempt++) {
      const peer = this.cluster.peer(this.prng.pick(this.cluster.memberIds()))
      if (peer === undefined) { await this.sleep(this.options.attemptTimeoutMs / 10); continue }
      this.cluster.checker.proposedCommand({ client: session.client, seq: session.seq, data: this.cluster.encode(command) })
      reached = true
      const ctl = this.timeout(this.options.attemptTimeoutMs)
      try {
        const output = await peer.submit(command, { session, signal: ctl.signal })
        ctl.cancel()
        return { type: 'ok', output }
      } catch {
        ctl.cancel()
      }
    }
    return { type: reached ? 'info' : 'fail' }
  }

}

type Outcome<T> = { readonly type: 'ok', readonly output: T } | { readonly type: 'fail' | 'info' }
