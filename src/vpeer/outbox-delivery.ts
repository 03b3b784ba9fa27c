/**
 * VP-to-VP messages, the delivering half: while this member leads its group, it hands the
 * outbox's committed outputs (outbox.ts) to `VirtualPeerInit.deliver`, target by target in seq
 * order, and records how far each receiver took them with an acknowledgement command.
 *
 * - Leader only. Every member runs this object; only the one whose core is leader delivers.
 *   Losing leadership (or stopping) aborts the `AbortSignal` every delivery and acknowledgement
 *   of that leadership was given. A deposed leader that has not noticed yet may go on delivering
 *   for a while next to the new one: harmless, the receiver deduplicates.
 * - Where to start. A new leadership starts each target right above the replicated
 *   acknowledged-through seq. Outputs delivered but not acknowledged (the old leader crashed
 *   before its acknowledgement committed) are delivered again; the receiver applies each seq of
 *   a sender once (its session table) and answers a repeat from what it remembers.
 * - Pacing. Per target one `deliver` call at a time, with at most `maxBatch` outputs, the
 *   lowest undelivered first. The next batch goes out as soon as the previous one returned;
 *   acknowledgements follow behind (one in flight per target, the latest seq wins), so a slow
 *   log does not stall delivery, and the outbox is trimmed as acknowledgements commit.
 * - Failures. A `deliver` that rejects, or returns no progress, is retried after a backoff
 *   doubling from `retryMinMs` to `retryMaxMs` with jitter (from the injected RandomSource, so
 *   the simulator replays it). Nothing is ever skipped: a target whose receiver never takes an
 *   output blocks that target only.
 *
 * The receiver's session window bounds what may be in flight: a receiver remembers the outcomes
 * of its last `sessionWindow` seqs per sender, and a seq that far below the newest one it applied
 * is answered "expired". This driver only sends seq s once every seq ≤ s − maxBatch was taken,
 * so with `maxBatch` ≤ the receiver's `sessionWindow` (default 1024; refused above it by
 * `receiveOutputs`) a seq answered "expired" was applied before: it counts as delivered.
 */
import type { Clock, RandomSource } from '../contracts/index.js'
import { mark } from '../util/marks.js'
import type { Outbox, OutboxEntry } from './outbox.js'

/** One output as `deliver` receives it. */
export interface DeliveredOutput {
  readonly seq: number
  readonly data: Uint8Array
}

/**
 * Hands `outputs` (consecutive seqs, ascending) of the group `sender.group` to the VP `target`,
 * e.g. by calling the receiving group's `VirtualPeer.receiveOutputs`. Resolves with the highest
 * seq such that every output up to it was taken by the receiver (applied there, or refused by
 * its state machine, the same on every replica of it); a value below the first seq means no
 * progress. Rejects when nothing was taken. Must stop when `signal` aborts.
 */
export type DeliverFn = (
  target: string,
  outputs: readonly DeliveredOutput[],
  sender: { readonly group: string },
  signal: AbortSignal
) => Promise<number>

export interface OutboxDeliveryOptions {
  /** Outputs per `deliver` call (default 16). At most the receivers' `sessionWindow`. */
  readonly maxBatch: number
  /** First retry delay after a failed delivery (default 100 ms). */
  readonly retryMinMs: number
  /** Longest retry delay (default 10 s). */
  readonly retryMaxMs: number
  /**
   * A `deliver` call that has not settled after this long is aborted (its signal fires) and
   * counted as failed, so one hung call cannot stall its target forever (default 30 s).
   */
  readonly callTimeoutMs: number
}

export const DEFAULT_OUTBOX_DELIVERY: OutboxDeliveryOptions = Object.freeze({ maxBatch: 16, retryMinMs: 100, retryMaxMs: 10_000, callTimeoutMs: 30_000 })

/** What the driver needs from the VirtualPeer that owns it. */
export interface OutboxDeliveryHost {
  readonly group: string
  readonly outbox: Outbox
  readonly clock: Clock
  readonly random: RandomSource
  readonly deliver: DeliverFn
  /** This member's core is the leader (and the peer runs). */
  leading: () => boolean
  /** Submits the acknowledgement command; resolves once applied here. */
  ack: (target: string, through: number, signal: AbortSignal) => Promise<unknown>
  trace: (line: string) => void
}

interface Channel {
  /** Outputs up to this seq were taken by the receiver, as far as this leadership knows. */
  delivered: number
  delivering: boolean
  /** Consecutive failed deliveries (for the backoff). */
  failures: number
  /** Cancels the pending retry timer (set while waiting to retry). */
  retry: (() => void) | undefined
  /** The seq of the acknowledgement in flight, if any. */
  acking: number | undefined
  /** The highest seq acknowledged by this leadership (submitted and applied). */
  ackedByUs: number
}

interface Leadership {
  readonly controller: AbortController
  readonly channels: Map<string, Channel>
}

export class OutboxDelivery {
  private readonly host: OutboxDeliveryHost
  private readonly options: OutboxDeliveryOptions
  private lead: Leadership | undefined
  /** Deliveries completed (for tests and status). */
  delivered = 0
  failures = 0

  constructor (host: OutboxDeliveryHost, options: OutboxDeliveryOptions) {
    this.host = host
    this.options = options
  }

  /**
   * Called whenever leadership may have changed or the outbox may have grown or shrunk (after
   * every applied Ready, a snapshot install, a role change). Cheap when there is nothing to do.
   */
  poke (): void {
    if (!this.host.leading()) {
      this.stop()
      return
    }
    if (this.lead === undefined && this.host.outbox.pendingOutputs === 0) return
    if (this.lead === undefined) {
      this.lead = { controller: new AbortController(), channels: new Map() }
      mark('vpeer: outbox delivery started by a new leadership')
    }
    const lead = this.lead
    for (const target of this.host.outbox.pendingTargets()) {
      let ch = lead.channels.get(target)
      if (ch === undefined) {
        ch = { delivered: 0, delivering: false, failures: 0, retry: undefined, acking: undefined, ackedByUs: 0 }
        lead.channels.set(target, ch)
      }
      // The replicated acknowledgement may be ahead of what this leadership delivered itself
      // (the previous leader's work, or a snapshot): never deliver below it.
      ch.delivered = Math.max(ch.delivered, this.host.outbox.acked(target))
      this.acknowledge(lead, target, ch)
      this.deliverNext(lead, target, ch)
    }
  }

  /** Aborts every delivery and acknowledgement of the current leadership (lost, or stopping). */
  stop (): void {
    const lead = this.lead
    if (lead === undefined) return
    this.lead = undefined
    for (const ch of lead.channels.values()) ch.retry?.()
    lead.controller.abort()
    mark('vpeer: outbox delivery stopped (leadership lost or peer stopped)')
  }

  private deliverNext (lead: Leadership, target: string, ch: Channel): void {
    if (ch.delivering || ch.retry !== undefined || lead !== this.lead) return
    const batch = this.host.outbox.pendingAfter(target, ch.delivered, this.options.maxBatch)
    if (batch.length === 0) return
    ch.delivering = true
    const first = (batch[0] as OutboxEntry).seq
    const last = (batch[batch.length - 1] as OutboxEntry).seq
    const outputs = batch.map(e => ({ seq: e.seq, data: e.data }))
    // From a microtask, never from inside the Ready being carried out: `deliver` may run another
    // peer of this process, which may deliver back to this one.
    // Each call has its own signal: aborted with the leadership, or when the call times out.
    const callController = new AbortController()
    const onLeadershipLost = (): void => { callController.abort() }
    lead.controller.signal.addEventListener('abort', onLeadershipLost, { once: true })
    let cancelTimer = (): void => {}
    const timedOut = new Promise<never>((_resolve, reject) => {
      cancelTimer = this.host.clock.after(this.options.callTimeoutMs, () => {
        callController.abort()
        reject(new Error(`deliver did not settle within ${this.options.callTimeoutMs} ms`))
      })
    })
    timedOut.catch(() => {})
    const call = Promise.race([
      Promise.resolve().then(async () => await this.host.deliver(target, outputs, { group: this.host.group }, callController.signal)),
      timedOut
    ]).finally(() => {
      cancelTimer()
      lead.controller.signal.removeEventListener('abort', onLeadershipLost)
    })
    call.then(
      through => {
        ch.delivering = false
        if (lead !== this.lead) return
        if (typeof through !== 'number' || !Number.isSafeInteger(through) || through < first) {
          this.failed(lead, target, ch, `no progress (delivered through ${String(through)}, first was ${first})`)
          return
        }
        // Never acknowledge past what this call was given, whatever it claims.
        ch.delivered = Math.max(ch.delivered, Math.min(through, last))
        ch.failures = 0
        this.delivered++
        mark('vpeer: outputs delivered')
        this.acknowledge(lead, target, ch)
        this.deliverNext(lead, target, ch)
      },
      (error: unknown) => {
        ch.delivering = false
        if (lead !== this.lead) return
        this.failed(lead, target, ch, error instanceof Error ? error.message : String(error))
      }
    )
  }

  private failed (lead: Leadership, target: string, ch: Channel, why: string): void {
    this.failures++
    ch.failures++
    mark('vpeer: output delivery failed, retrying')
    const base = Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** Math.min(ch.failures - 1, 30))
    const delay = base + this.host.random.int(0, Math.max(1, Math.floor(base / 2)))
    this.host.trace(`outbox: delivery to ${target} failed (${why}); retry #${ch.failures} in ${delay} ms`)
    const cancel = this.host.clock.after(delay, () => {
      ch.retry = undefined
      if (lead !== this.lead) return
      this.poke()
    })
    ch.retry = cancel
  }

  /** Submits the acknowledgement of `ch.delivered` unless one is in flight (it follows that one). */
  private acknowledge (lead: Leadership, target: string, ch: Channel): void {
    if (ch.acking !== undefined || ch.delivered <= Math.max(ch.ackedByUs, this.host.outbox.acked(target))) return
    const through = ch.delivered
    ch.acking = through
    this.host.ack(target, through, lead.controller.signal).then(
      () => {
        ch.acking = undefined
        ch.ackedByUs = Math.max(ch.ackedByUs, through)
        if (lead === this.lead) this.acknowledge(lead, target, ch)
      },
      (error: unknown) => {
        ch.acking = undefined
        if (lead !== this.lead) return
        // Submitted again by the next poke (a retry timer guarantees one); the outputs stay
        // pending meanwhile and the receiver answers their redelivery from its session table.
        mark('vpeer: outbox acknowledgement failed, retrying')
        this.host.trace(`outbox: acknowledgement of ${target} through ${through} did not apply: ${error instanceof Error ? error.message : String(error)}`)
        this.host.clock.after(this.options.retryMinMs, () => { if (lead === this.lead) this.poke() })
      }
    )
  }
}
