/**
 * VP-to-VP messages, the replicated half (issue 10 §5): the outbox of outputs a state machine
 * emitted with `ApplyContext.send(group, message)`, and the reserved commands that touch it.
 *
 * An output is part of the slot that emitted it: it is staged while `apply` runs and appended to
 * the outbox when `apply` returns (discarded when it throws, like the rest of a failed command's
 * effects), so every replica holds the same outbox at every slot. Per target group the outbox
 * keeps the next output sequence number, the acknowledged-through sequence number and the
 * outputs above it, in sequence order. Sequence numbers start at 1 and never restart (the
 * receiver deduplicates by them), so a target's record is never forgotten.
 *
 * The current leader delivers the outputs (outbox-delivery.ts) and then records how far the
 * receiver took them with an acknowledgement, a command in the runtime's reserved namespace:
 * client `'\u0000out/' + target`, seq = the acknowledged-through sequence number, no body.
 * Applying it raises the target's acknowledged-through to max(current, seq) and drops the
 * outputs at or below it: idempotent and monotonic, so acknowledgements bypass the session table
 * (a repeated or reordered one is harmless, and no session of theirs can expire).
 *
 * The receiver applies output `seq` of sender group `g` as the command of client
 * `'\u0000vp/' + g` with that seq (`VirtualPeer.receiveOutputs`): exactly once, by the session
 * table, whichever sending leader delivers it and however often.
 *
 * Bounds (`OutboxLimits`, the same on every member, like `sessionTtlMs`): a send that would
 * exceed them is refused inside `apply` with `OutboxFullError` (`ERR_OUTBOX_FULL`), thrown by
 * `ctx.send`; an invalid group name or an oversized message with `InvalidArgumentError`. Both
 * depend only on replicated state and the command, so every replica refuses alike. The outbox
 * does not depend on whether this member delivers (`VirtualPeerInit.deliver`): without a
 * deliverer in the group, outputs accumulate until the outbox is full.
 */
import { Buffer } from 'node:buffer'
import { CorruptSnapshotError } from '../migration/errors.js'
import type { Command, Slot } from '../paxos/index.js'
import { InvalidArgumentError } from '../util/errors.js'
import { ApplyContextClosedError, OutboxFullError } from './errors.js'

/** The client namespace of outputs received from another VP: `OUTPUT_CLIENT_PREFIX + senderGroup`. */
export const OUTPUT_CLIENT_PREFIX = '\u0000vp/'
/** The client namespace of outbox acknowledgements: `OUTBOX_ACK_PREFIX + target`, seq = through. */
export const OUTBOX_ACK_PREFIX = '\u0000out/'
/** Characters of a group name (a group key, a CIDv1 string, is about 60). */
export const MAX_GROUP_NAME_CHARS = 256

/**
 * Group names: letters, digits and `._:-` (what a CID or a multibase key prints, plus separators
 * for readable test names). No `/` and no controls: a name is the tail of a client id.
 */
const GROUP_NAME = /^[A-Za-z0-9._:-]+$/

export function isGroupName (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_GROUP_NAME_CHARS && GROUP_NAME.test(v)
}

/** Every member of a group must use the same limits: they decide which sends are refused. */
export interface OutboxLimits {
  /** Target groups the outbox keeps a record of (records are permanent: sequence numbers never restart). */
  readonly maxTargets: number
  /** Unacknowledged outputs per target. */
  readonly maxPendingPerTarget: number
  /** Bytes of unacknowledged outputs, all targets together (the outbox travels in every snapshot). */
  readonly maxPendingBytes: number
  /** Bytes of one output. Keep it at or below the receivers' `paxos.batchBytesMax`. */
  readonly maxMessageBytes: number
}

export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = Object.freeze({
  maxTargets: 1024,
  maxPendingPerTarget: 1024,
  maxPendingBytes: 8 * 1024 * 1024,
  maxMessageBytes: 64 * 1024
})

/**
 * Hard ceilings, for limits given at creation and for outboxes decoded from snapshots of unknown
 * origin: the base64 of a full outbox stays well inside a manifest's 64 MiB runtime blob.
 */
export const OUTBOX_CEILINGS: OutboxLimits = Object.freeze({
  maxTargets: 65_536,
  maxPendingPerTarget: 65_536,
  maxPendingBytes: 32 * 1024 * 1024,
  maxMessageBytes: 1024 * 1024
})

/** @throws InvalidArgumentError if a limit is not a positive integer within `OUTBOX_CEILINGS` */
export function outboxLimits (given: Partial<OutboxLimits> = {}): OutboxLimits {
  const limits = { ...DEFAULT_OUTBOX_LIMITS, ...given }
  for (const key of Object.keys(DEFAULT_OUTBOX_LIMITS) as Array<keyof OutboxLimits>) {
    const v = limits[key]
    if (!Number.isSafeInteger(v) || v < 1 || v > OUTBOX_CEILINGS[key]) {
      throw new InvalidArgumentError(`outbox limit ${key} must be an integer from 1 to ${OUTBOX_CEILINGS[key]}, got ${String(v)}`)
    }
  }
  return limits
}

/** One unacknowledged output. */
export interface OutboxEntry {
  readonly seq: number
  /** The slot whose command emitted it. */
  readonly slot: Slot
  readonly data: Uint8Array
}

/** One target's record, as `Outbox.status` reports it. */
export interface OutboxTargetStatus {
  readonly target: string
  /** The sequence number the next output to this target gets. */
  readonly nextSeq: number
  /** Outputs up to this one were acknowledged (the receiver took them). */
  readonly acked: number
  readonly pending: number
  readonly pendingBytes: number
}

/**
 * The outbox as it travels in the runtime snapshot blob: `[target, nextSeq, acked, entries]` in
 * ascending target order, each entry `[seq, slot, base64 data]` in ascending seq order.
 */
export type OutboxState = Array<[string, number, number, Array<[number, number, string]>]>

interface Target {
  nextSeq: number
  acked: number
  /** Exactly the outputs acked + 1 … nextSeq − 1, in order. */
  readonly pending: OutboxEntry[]
  pendingBytes: number
}

/** What an applied acknowledgement did (the result its command resolves with). */
export interface OutboxAck {
  readonly target: string
  readonly acked: number
  /** False when the outbox had already acknowledged that far. */
  readonly changed: boolean
}

export type OutboxAckOutcome =
  | { readonly ok: true, readonly result: OutboxAck }
  | { readonly ok: false, readonly code: string, readonly message: string }

export class Outbox {
  readonly limits: OutboxLimits
  private readonly targets = new Map<string, Target>()
  private totalBytes = 0
  private totalEntries = 0

  constructor (limits: OutboxLimits = DEFAULT_OUTBOX_LIMITS) {
    this.limits = limits
  }

  /** Outputs staged by one `apply`, appended to the outbox by `commit` (and only then). */
  stage (): OutputStage {
    return new OutputStage(this)
  }

  /** @internal the checks of `OutputStage.send`, against the outbox plus what is already staged */
  admit (target: string, data: Uint8Array, staged: StagedTotals): void {
    if (!isGroupName(target)) throw new InvalidArgumentError(`invalid target group ${JSON.stringify(String(target).slice(0, 64))}`)
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('an output must be a Uint8Array')
    if (data.byteLength > this.limits.maxMessageBytes) {
      throw new InvalidArgumentError(`an output of ${data.byteLength} bytes exceeds maxMessageBytes (${this.limits.maxMessageBytes})`)
    }
    const t = this.targets.get(target)
    const sameTarget = staged.perTarget.get(target) ?? 0
    const stagedBytes = staged.bytes
    const newTargets = staged.newTargets
    if (t === undefined && !newTargets.has(target) && this.targets.size + newTargets.size >= this.limits.maxTargets) {
      throw new OutboxFullError(`the outbox already has records of ${this.limits.maxTargets} target groups`)
    }
    if ((t?.pending.length ?? 0) + sameTarget >= this.limits.maxPendingPerTarget) {
      throw new OutboxFullError(`${this.limits.maxPendingPerTarget} outputs to ${target} are not acknowledged yet`)
    }
    if (this.totalBytes + stagedBytes + data.byteLength > this.limits.maxPendingBytes) {
      throw new OutboxFullError(`unacknowledged outputs would exceed ${this.limits.maxPendingBytes} bytes`)
    }
    if ((t?.nextSeq ?? 1) + sameTarget > Number.MAX_SAFE_INTEGER) throw new OutboxFullError(`the sequence numbers to ${target} are exhausted`)
  }

  /** @internal appends staged outputs (already admitted) emitted at `slot` */
  append (staged: readonly StagedOutput[], slot: Slot): void {
    for (const { target, data } of staged) {
      let t = this.targets.get(target)
      if (t === undefined) {
        t = { nextSeq: 1, acked: 0, pending: [], pendingBytes: 0 }
        this.targets.set(target, t)
      }
      t.pending.push({ seq: t.nextSeq++, slot, data })
      t.pendingBytes += data.byteLength
      this.totalBytes += data.byteLength
      this.totalEntries++
    }
  }

  /**
   * Applies an acknowledgement: outputs to `target` up to `through` were taken by the receiver.
   * Refused (alike on every replica) for a target never sent to or a seq never issued.
   */
  ack (target: string, through: number): OutboxAckOutcome {
    const t = this.targets.get(target)
    if (t === undefined) return { ok: false, code: 'ERR_INVALID_COMMAND', message: `no output was ever sent to ${target}` }
    if (!Number.isSafeInteger(through) || through >= t.nextSeq) {
      return { ok: false, code: 'ERR_INVALID_COMMAND', message: `acknowledgement of output ${through} to ${target}, which was never issued` }
    }
    if (through <= t.acked) return { ok: true, result: { target, acked: t.acked, changed: false } }
    let drop = 0
    while (drop < t.pending.length && (t.pending[drop] as OutboxEntry).seq <= through) {
      const bytes = (t.pending[drop] as OutboxEntry).data.byteLength
      t.pendingBytes -= bytes
      this.totalBytes -= bytes
      drop++
    }
    t.pending.splice(0, drop)
    this.totalEntries -= drop
    t.acked = through
    return { ok: true, result: { target, acked: through, changed: true } }
  }

  /** Targets with unacknowledged outputs, in ascending order. */
  pendingTargets (): string[] {
    return [...this.targets].filter(([, t]) => t.pending.length > 0).map(([name]) => name).sort(compare)
  }

  hasTarget (target: string): boolean {
    return this.targets.has(target)
  }

  acked (target: string): number {
    return this.targets.get(target)?.acked ?? 0
  }

  /** Up to `max` unacknowledged outputs to `target` with seq above `after`, in seq order. */
  pendingAfter (target: string, after: number, max: number): OutboxEntry[] {
    const t = this.targets.get(target)
    if (t === undefined || t.pending.length === 0) return []
    // pending[i].seq = acked + 1 + i
    const from = Math.max(0, after - t.acked)
    return t.pending.slice(from, from + max)
  }

  status (): OutboxTargetStatus[] {
    return [...this.targets].sort((a, b) => compare(a[0], b[0])).map(([target, t]) => ({
      target, nextSeq: t.nextSeq, acked: t.acked, pending: t.pending.length, pendingBytes: t.pendingBytes
    }))
  }

  /** Unacknowledged outputs, all targets. */
  get pendingOutputs (): number {
    return this.totalEntries
  }

  /** Bytes of unacknowledged outputs, all targets. */
  get pendingBytes (): number {
    return this.totalBytes
  }

  /** Plain data for the snapshot blob: deterministic (targets sorted), so equal outboxes encode equally. */
  toJSON (): OutboxState {
    return [...this.targets].sort((a, b) => compare(a[0], b[0])).map(([target, t]) => [
      target, t.nextSeq, t.acked, t.pending.map(e => [e.seq, e.slot, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64')])
    ])
  }

  /** Replaces the whole outbox with a decoded state (`decodeOutboxState`), or empties it (a blob older than version 4). */
  restore (state: OutboxState | undefined): void {
    this.targets.clear()
    this.totalBytes = 0
    this.totalEntries = 0
    for (const [target, nextSeq, acked, entries] of decodeOutboxState(state ?? [])) {
      const pending = entries.map(([seq, slot, b64]) => ({ seq, slot, data: new Uint8Array(Buffer.from(b64, 'base64')) }))
      const pendingBytes = pending.reduce((n, e) => n + e.data.byteLength, 0)
      this.targets.set(target, { nextSeq, acked, pending, pendingBytes })
      this.totalBytes += pendingBytes
      this.totalEntries += pending.length
    }
  }
}

export interface StagedOutput {
  readonly target: string
  readonly data: Uint8Array
}

/** Running totals of a stage, so that each send is checked in constant time. */
interface StagedTotals {
  readonly perTarget: ReadonlyMap<string, number>
  readonly bytes: number
  /** Staged targets the outbox has no record of yet. */
  readonly newTargets: ReadonlySet<string>
}

/**
 * The outputs of one `apply`. `send` checks each output against the outbox and the outputs
 * staged before it, so a refusal is decided by replicated state alone; `commit` appends them
 * once `apply` returned; `close` makes any later `send` throw (a state machine that kept its
 * context and calls it outside `apply` would emit at no slot, differently on each replica).
 */
export class OutputStage {
  private readonly outbox: Outbox
  private readonly staged: StagedOutput[] = []
  private readonly totals = { perTarget: new Map<string, number>(), bytes: 0, newTargets: new Set<string>() }
  private closed = false

  constructor (outbox: Outbox) {
    this.outbox = outbox
  }

  /**
   * @throws InvalidArgumentError on an invalid group name or a message above `maxMessageBytes`
   * @throws OutboxFullError if the outbox has no room for it
   * @throws ApplyContextClosedError outside the `apply` call the context was given to
   */
  send (target: string, message: Uint8Array): void {
    if (this.closed) throw new ApplyContextClosedError()
    this.outbox.admit(target, message, this.totals)
    // A copy: the state machine may reuse its buffer after send returns.
    this.staged.push({ target, data: message.slice() })
    this.totals.perTarget.set(target, (this.totals.perTarget.get(target) ?? 0) + 1)
    this.totals.bytes += message.byteLength
    if (!this.outbox.hasTarget(target)) this.totals.newTargets.add(target)
  }

  get size (): number {
    return this.staged.length
  }

  commit (slot: Slot): void {
    this.close()
    this.outbox.append(this.staged, slot)
  }

  close (): void {
    this.closed = true
  }
}

/**
 * Checks that `raw` (parsed JSON of unknown origin: a stored or received snapshot) is an outbox
 * `Outbox.toJSON` could have produced within `OUTBOX_CEILINGS`: valid target names in strictly
 * ascending order, 0 ≤ acked, acked below nextSeq, entries exactly acked + 1 … nextSeq − 1 in order, each
 * with a slot and canonical base64 data within the size ceilings.
 * @throws CorruptSnapshotError on anything else
 */
export function decodeOutboxState (raw: unknown): OutboxState {
  if (!Array.isArray(raw)) throw new CorruptSnapshotError('outbox is not an array')
  if (raw.length > OUTBOX_CEILINGS.maxTargets) throw new CorruptSnapshotError(`outbox has ${raw.length} targets`)
  const out: OutboxState = []
  let previous: string | undefined
  let bytes = 0
  for (const t of raw as unknown[]) {
    if (!Array.isArray(t) || t.length !== 4 || !isGroupName(t[0]) || !isSeq(t[1]) || !isSeq(t[2]) || !Array.isArray(t[3])) {
      throw new CorruptSnapshotError('malformed outbox target')
    }
    const [target, nextSeq, acked, entries] = t as [string, number, number, unknown[]]
    if (previous !== undefined && compare(previous, target) >= 0) throw new CorruptSnapshotError('outbox targets out of order')
    previous = target
    if (nextSeq < 1 || acked >= nextSeq || entries.length !== nextSeq - 1 - acked || entries.length > OUTBOX_CEILINGS.maxPendingPerTarget) {
      throw new CorruptSnapshotError(`outbox target ${target}: ${entries.length} entries between acked ${acked} and next ${nextSeq}`)
    }
    const decoded: Array<[number, number, string]> = []
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (!Array.isArray(e) || e.length !== 3 || e[0] !== acked + 1 + i || !isSeq(e[1]) || typeof e[2] !== 'string') {
        throw new CorruptSnapshotError(`malformed outbox entry for ${target}`)
      }
      const size = base64Size(e[2])
      if (size === undefined || size > OUTBOX_CEILINGS.maxMessageBytes) throw new CorruptSnapshotError(`outbox entry for ${target} has invalid data`)
      bytes += size
      decoded.push([e[0] as number, e[1] as number, e[2]])
    }
    if (bytes > OUTBOX_CEILINGS.maxPendingBytes) throw new CorruptSnapshotError(`outbox holds more than ${OUTBOX_CEILINGS.maxPendingBytes} bytes`)
    out.push([target, nextSeq, acked, decoded])
  }
  return out
}

/** Decoded size of canonical base64 (what `Buffer#toString('base64')` writes), or undefined. */
function base64Size (s: string): number | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined
  const size = s.length / 4 * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0)
  // Non-canonical padding bits would decode to the same bytes as another string: refuse them.
  return Buffer.from(s, 'base64').toString('base64') === s ? size : undefined
}

// --- reserved commands --------------------------------------------------------------------

export function isOutboxAck (c: Command): boolean {
  return c.client.startsWith(OUTBOX_ACK_PREFIX)
}

/** The command acknowledging outputs to `target` through `through`. */
export function outboxAckCommand (target: string, through: number): Command {
  return { client: OUTBOX_ACK_PREFIX + target, seq: through, data: new Uint8Array(0) }
}

/** Applies an acknowledgement command (any body is refused: acknowledgements have none). */
export function applyOutboxAck (outbox: Outbox, c: Command): OutboxAckOutcome {
  const target = c.client.slice(OUTBOX_ACK_PREFIX.length)
  if (!isGroupName(target) || c.data.byteLength !== 0) return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'malformed outbox acknowledgement' }
  return outbox.ack(target, c.seq)
}

/** The client id under which a receiver applies the outputs of `senderGroup`. */
export function outputClient (senderGroup: string): string {
  return OUTPUT_CLIENT_PREFIX + senderGroup
}

/** The sender group of a received output's client id, or undefined for any other client. */
export function outputSender (client: string): string | undefined {
  if (!client.startsWith(OUTPUT_CLIENT_PREFIX)) return undefined
  const group = client.slice(OUTPUT_CLIENT_PREFIX.length)
  return isGroupName(group) ? group : undefined
}

function isSeq (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Code-unit order, the same on every platform. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
