/**
 * Snapshot production inside the runtime (issue 3 §2), hashicorp/raft's Snapshot()/Persist()
 * split: on the apply path only a consistent copy is taken (the state machine's bytes, the session
 * table, the configurations at the applied index); hashing the copy into a manifest runs a few
 * chunks per clock tick, so the Ready loop (and the leader's committing) goes on meanwhile; the
 * finished snapshot is written to storage between two Readies, so storage writes stay in call
 * order and no apply races the write. A state machine with `capture` (StateMachine.capture:
 * a persistent structure's root) is not even copied on the apply path: only frozen there, its
 * bytes are produced by the first background step.
 *
 * Keeping pace with any load (issue 7 §4). Clock ticks alone do not bound how far the snapshot
 * falls behind: when messages and fsyncs arrive faster than timers fire (a saturated event loop,
 * a transport or disk that completes in microtasks, a simulated world with zero latency) the
 * manifest made no progress at all during a burst. So the hashing is also paced by the work it
 * must keep up with: every apply hashes at least its share of the chunks, so that the manifest is
 * finished by the time `everySlots / 2` slots have been applied after the copy, whatever the
 * clock does (`pace`). The timer does the work while the node is idle or slow; under load the
 * apply path takes over the remainder, which throttles committing by at most the cost of
 * hashing the state once per half interval: the back-pressure that keeps the log bounded.
 * And a snapshot that fell due while another was being built is taken as soon as that one is
 * stored (in the Ready loop, between Readies), not at the next apply: the last snapshot of a
 * burst never waits for a later write.
 *
 * The rule, then: a snapshot is copied at the first applied index at least `everySlots` above the
 * previous one (never exactly on a multiple: a Ready applies several slots at once). During a
 * burst the snapshot index stays within `1.5 × everySlots` plus one Ready's slots of the applied
 * index; once applies stop, it settles within `everySlots` of it, after at most two builds.
 *
 * Retention: `Storage.installSnapshot` drops the stored log ≤ index in the same atomic write, so
 * the durable log never keeps a tail below the snapshot. The `logRetentionSlots` slots below the
 * index are kept in the core's in-memory log only (`compactLog(index - retention)`), where they
 * serve catch-up of a slightly lagging peer without a snapshot transfer. After a restart the log
 * starts right above the snapshot; a peer that lags then gets the snapshot. That keeps the storage
 * contract as it is (one atomic install, no "snapshot but keep some log" mode) at the cost of a few
 * more transfers right after restarts. The in-memory log therefore holds at most the lag above,
 * plus `logRetentionSlots`, plus the pipeline.
 */
import { ManifestBuilder } from '../migration/snapshot.js'
import type { SnapshotMeta } from '../migration/snapshot.js'
import { CorruptSnapshotError } from '../migration/errors.js'
import type { ConfigEntry, Configuration, NodeId, PaxosNode, Slot } from '../paxos/index.js'
import { mark } from '../util/marks.js'
import type { Clock, Storage } from '../contracts/index.js'
import type { Outcome, SessionEntry, SessionTable } from './sessions.js'
import { decodeAccessState } from './access-list.js'
import type { AccessState } from './access-list.js'
import { decodeCertificateState } from './certificates.js'
import type { CertificateState } from './certificates.js'
import { decodeOutboxState } from './outbox.js'
import type { OutboxState } from './outbox.js'

export const DEFAULT_SNAPSHOT_EVERY_SLOTS = 10_000
export const DEFAULT_LOG_RETENTION_SLOTS = 1000
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 64 * 1024
/** Chunks hashed per clock tick while a manifest is built (16 × 64 KiB ≈ 1 MiB ≈ 1 ms of SHA-256). */
export const DEFAULT_CHUNKS_PER_STEP = 16

/** Session entries; those of a version-1 blob have no last-activity time. */
export type SessionEntries<R> = Array<SessionEntry<R> | [string, number, Array<[number, Outcome<R>]>]>

/** What the runtime stores in `SnapshotMeta.sessions`: the session table and every configuration in force. */
export interface RuntimeSnapshotBlob<R> {
  readonly sessions: SessionEntries<R>
  /** The session table's clock and its forgotten sessions (version 2; empty for version 1). */
  readonly sessionExpiry: { readonly clockMs: number, readonly tombstones: Array<[string, number]> }
  /** The configurations governing slots above the snapshot's index (`PaxosNode.snapshotConfigs`). */
  readonly configs: ConfigEntry[]
  /**
   * The client allow-list at the snapshot's index (version 3; access-list.ts). Absent in older
   * blobs and in groups without access control: a receiver then starts from its genesis list.
   */
  readonly access?: AccessState
  /**
   * The configuration certificate table (version 4; certificates.ts). Absent in older blobs and
   * in groups without certificates: a receiver then restarts its table from the blob's newest
   * configuration.
   */
  readonly certificates?: CertificateState
  /** The outbox of VP-to-VP outputs (version 4; outbox.ts). Absent in older blobs: empty. */
  readonly outbox?: OutboxState
}

/** A snapshot this node holds: manifest plus state, immutable once built. */
export interface LocalSnapshot {
  readonly meta: SnapshotMeta
  readonly state: Uint8Array
}

/**
 * Version 2 added each session's last activity, the table's clock and its tombstones; version 3
 * the client allow-list (`access`: the list, or null in a group without access control); version
 * 4 the certificate table (`certificates`: absent or null without certificates) and the outbox of
 * VP-to-VP outputs (`outbox`, `[]` when empty).
 */
const BLOB_VERSION = 4

/**
 * Encodes the runtime's part of a snapshot as small versioned JSON. `SnapshotMeta.configuration`
 * can hold one configuration only, but while a change waits out its α window two (or more)
 * govern the slots above the index; they travel here, covered by the manifest's root.
 * Session outcomes must be JSON values (the result type R of the state machine).
 */
export function encodeRuntimeBlob<R> (
  sessions: Array<SessionEntry<R>>,
  configs: readonly ConfigEntry[],
  sessionExpiry: RuntimeSnapshotBlob<R>['sessionExpiry'] = { clockMs: 0, tombstones: [] },
  access?: AccessState,
  certificates?: CertificateState,
  outbox?: OutboxState
): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    v: BLOB_VERSION, sessions, configs, sessionClock: sessionExpiry.clockMs, tombstones: sessionExpiry.tombstones, access: access ?? null, outbox: outbox ?? [],
    ...(certificates !== undefined ? { certificates } : {})
  }))
}

/** @throws CorruptSnapshotError on anything that is not a blob `encodeRuntimeBlob` could have made */
export function decodeRuntimeBlob<R> (bytes: Uint8Array): RuntimeSnapshotBlob<R> {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (error) {
    throw new CorruptSnapshotError('runtime blob is not JSON', { cause: error })
  }
  if (!isObject(raw)) throw new CorruptSnapshotError('runtime blob is not an object')
  if (raw.v !== 1 && raw.v !== 2 && raw.v !== 3 && raw.v !== BLOB_VERSION) throw new CorruptSnapshotError(`runtime blob version ${String(raw.v)}`)
  const { sessions, configs } = raw
  // Versions 2 to 4 share the session format.
  const v2 = raw.v !== 1
  if (!Array.isArray(configs) || configs.length === 0) throw new CorruptSnapshotError('runtime blob has no configuration')
  let lastFrom = 0
  for (const c of configs as unknown[]) {
    if (!isObject(c) || !isSlot(c.fromSlot) || c.fromSlot < lastFrom || !isConfiguration(c.configuration)) {
      throw new CorruptSnapshotError('malformed configuration entry in runtime blob')
    }
    lastFrom = c.fromSlot
  }
  if (!Array.isArray(sessions)) throw new CorruptSnapshotError('runtime blob has no session table')
  for (const s of sessions as unknown[]) {
    if (!Array.isArray(s) || s.length !== (v2 ? 4 : 3) || typeof s[0] !== 'string' || !isSlot(s[1]) || !Array.isArray(s[2]) || (v2 && !isSlot(s[3]))) {
      throw new CorruptSnapshotError('malformed session in runtime blob')
    }
    for (const r of s[2] as unknown[]) {
      if (!Array.isArray(r) || r.length !== 2 || !isSlot(r[0]) || !isOutcome(r[1])) throw new CorruptSnapshotError('malformed session outcome in runtime blob')
    }
  }
  let sessionExpiry: RuntimeSnapshotBlob<R>['sessionExpiry'] = { clockMs: 0, tombstones: [] }
  if (v2) {
    const { sessionClock, tombstones } = raw
    if (!isSlot(sessionClock) || !Array.isArray(tombstones)) throw new CorruptSnapshotError('runtime blob has no session clock')
    for (const t of tombstones as unknown[]) {
      if (!Array.isArray(t) || t.length !== 2 || typeof t[0] !== 'string' || !isSlot(t[1]) || t[1] > sessionClock) {
        throw new CorruptSnapshotError('malformed session tombstone in runtime blob')
      }
    }
    sessionExpiry = { clockMs: sessionClock, tombstones: tombstones as Array<[string, number]> }
  }
  let access: AccessState | undefined
  if (raw.v === 3 || raw.v === 4) {
    // Present in every version-3 blob (null without access control): a missing key is damage.
    if (!('access' in raw)) throw new CorruptSnapshotError('runtime blob has no access list field')
    if (raw.access !== null) access = decodeAccessState(raw.access)
  }
  // Version 4: the certificate table under its own key, absent (or null) without certificates.
  const certificates = raw.v === 4 && raw.certificates !== undefined && raw.certificates !== null ? decodeCertificateState(raw.certificates) : undefined
  let outbox: OutboxState | undefined
  if (raw.v === 4) {
    if (!('outbox' in raw)) throw new CorruptSnapshotError('runtime blob has no outbox field')
    outbox = decodeOutboxState(raw.outbox)
  }
  const blob = { sessions: sessions as SessionEntries<R>, configs: configs as ConfigEntry[], sessionExpiry }
  return {
    ...blob,
    ...(access === undefined ? {} : { access }),
    ...(certificates !== undefined ? { certificates } : {}),
    ...(outbox === undefined || outbox.length === 0 ? {} : { outbox })
  }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isSlot (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function isConfiguration (v: unknown): v is Configuration {
  const ids = (x: unknown): boolean => Array.isArray(x) && x.every(i => typeof i === 'string')
  return isObject(v) && isSlot(v.epoch) && ids(v.voters) && ids(v.learners)
}

function isOutcome (v: unknown): boolean {
  if (!isObject(v)) return false
  if (v.ok === true) return 'result' in v
  return v.ok === false && typeof v.code === 'string' && typeof v.message === 'string'
}

/** What the snapshot code needs from the VirtualPeer that owns it. */
/** A snapshot received from a peer and installed. */
export interface SnapshotInstall {
  readonly from: NodeId
  readonly bytes: number
  readonly chunks: number
  readonly ms: number
}

export interface SnapshotHost<R> {
  readonly id: NodeId
  readonly node: PaxosNode
  readonly storage: Storage
  readonly clock: Clock
  readonly sessions: SessionTable<R>
  /** The allow-list to put in a snapshot (undefined: access control is off). */
  accessState: () => AccessState | undefined
  /** A received snapshot is being installed: replace the allow-list with its (undefined: genesis). */
  restoreAccess: (state: AccessState | undefined, index: Slot) => void
  /** The certificate table to put in a snapshot (undefined: certificates are off). */
  certificateState?: () => CertificateState | undefined
  /** A received snapshot is being installed: replace the certificate table with its (see `CertificateTable.restore`). */
  restoreCertificates?: (state: CertificateState | undefined, configs: readonly ConfigEntry[]) => void
  /** The outbox to put in a snapshot (outbox.ts); absent: none. */
  outboxState?: () => OutboxState
  /** A received snapshot is being installed: replace the outbox with its (undefined: empty). */
  restoreOutbox?: (state: OutboxState | undefined) => void
  /** `capture`, when the state machine has it, freezes its state in O(1) (StateMachine.capture). */
  readonly stateMachine: { snapshot: () => Uint8Array, capture?: () => () => Uint8Array, restore: (bytes: Uint8Array) => void }
  running: () => boolean
  /** The runtime's applied index (equal to the core's whenever no Ready is being carried out). */
  applied: () => Slot
  /** Runs `task` in the Ready loop between two Readies (storage writes stay ordered; no apply in between). */
  between: (task: () => Promise<void>) => void
  /**
   * The applied index jumped to `index`: a snapshot of `bytes` bytes from `from` was installed,
   * `ms` after its offer was taken.
   */
  jumped: (index: Slot, transfer: SnapshotInstall) => void
  trace: (line: string) => void
}

export interface SnapshotManagerOptions {
  /** Take a snapshot every this many applied slots (0 = never). */
  readonly everySlots: number
  /** Slots below a snapshot's index kept in the in-memory log to serve catch-up. */
  readonly retentionSlots: number
  readonly chunkBytes: number
  readonly chunksPerStep: number
  /** Interval of the manifest-building steps. */
  readonly stepMs: number
}

interface Building {
  /** The applied index the copy was taken at: the snapshot's index. */
  readonly index: Slot
  readonly configuration: Configuration
  /** The runtime blob (sessions, configurations, …) at `index`. */
  readonly blob: Uint8Array
  /**
   * The state machine's frozen view (`StateMachine.capture`), not yet serialized; undefined
   * once `builder` exists (and always for a state machine that copies in `snapshot()`).
   */
  serialize: (() => Uint8Array) | undefined
  /** The state's bytes and their manifest, once serialized. */
  built: { readonly builder: ManifestBuilder, readonly state: Uint8Array } | undefined
  readonly cancel: () => void
}

/**
 * Fraction of a snapshot interval within which a manifest must be finished (see `pace`): the
 * lag stays under (1 + this) × everySlots, and hashing adds at most 1 / (this × everySlots) of a
 * state's hashing cost to each applied slot.
 */
const BUILD_WITHIN_INTERVAL = 0.5

/**
 * Takes local snapshots and remembers the ones this node can offer: the newest, and the one
 * before it (a transfer of it may be under way when a newer one is taken; without it, a slow
 * receiver would chase a moving target forever).
 */
export class SnapshotManager<R> {
  private readonly host: SnapshotHost<R>
  private readonly options: SnapshotManagerOptions
  private latestSnap: LocalSnapshot | undefined
  private previousSnap: LocalSnapshot | undefined
  /**
   * Snapshots a peer is still fetching, kept after newer ones replace them: without this, a
   * transfer slower than two snapshot intervals could never finish (it would restart forever).
   */
  private readonly inUse = new Map<string, { snap: LocalSnapshot, lastUsedMs: number }>()

  /** A peer fetched a chunk of `snap` at `nowMs`: keep it while transfers use it. */
  touch (snap: LocalSnapshot, nowMs: number, keepMs: number): void {
    this.inUse.set(snap.meta.root, { snap, lastUsedMs: nowMs })
    for (const [root, e] of this.inUse) if (nowMs - e.lastUsedMs > keepMs) this.inUse.delete(root)
  }
  private building: Building | undefined
  /** A finished snapshot waits for (or is in) its write between Readies: no new copy meanwhile. */
  private storing = false
  /** Index of the last snapshot captured or installed: the next is due `everySlots` later. */
  private lastIndex: Slot = 0
  taken = 0

  constructor (host: SnapshotHost<R>, options: SnapshotManagerOptions) {
    this.host = host
    this.options = options
  }

  get latest (): LocalSnapshot | undefined {
    return this.latestSnap
  }

  /** The snapshot with this root, if this node still holds it. */
  byRoot (root: string): LocalSnapshot | undefined {
    if (this.latestSnap?.meta.root === root) return this.latestSnap
    if (this.previousSnap?.meta.root === root) return this.previousSnap
    const pinned = this.inUse.get(root)
    if (pinned !== undefined) return pinned.snap
    return undefined
  }

  /** A snapshot is now durable here (loaded at start, taken, or received): offer it from now on. */
  adopt (snap: LocalSnapshot): void {
    if (this.latestSnap !== undefined && snap.meta.index <= this.latestSnap.meta.index) return
    this.previousSnap = this.latestSnap
    this.latestSnap = snap
    if (snap.meta.index > this.lastIndex) this.lastIndex = snap.meta.index
    // A received snapshot at or above the copy being hashed makes that copy useless.
    if (this.building !== undefined && this.building.index <= snap.meta.index) {
      mark('vpeer: local snapshot overtaken while building, dropped')
      this.stop()
    }
  }

  /**
   * Called on the apply path right after a Ready's committed slots were applied (`applied` is the
   * last of them). Takes the consistent copy when a snapshot is due, or hashes the share of the
   * manifest being built that these applies owe (`pace`).
   */
  afterApply (applied: Slot): void {
    if (this.options.everySlots <= 0) return
    const b = this.building
    if (b !== undefined) {
      this.pace(b, applied)
      return
    }
    this.captureIfDue(applied)
  }

  /** A snapshot is due (and none is being built or waiting to be stored): take the copy at `applied`. */
  private captureIfDue (applied: Slot): void {
    const every = this.options.everySlots
    if (every <= 0 || this.building !== undefined || this.storing || applied - this.lastIndex < every) return
    // A state machine with `capture` freezes its state here in O(1); its bytes are produced by
    // the first background step (or by `pace`), off this path. Without it the copy is the bytes.
    const sm = this.host.stateMachine
    const serialize = sm.capture !== undefined ? sm.capture() : undefined
    const state = serialize === undefined ? sm.snapshot() : undefined
    const configs = this.host.node.snapshotConfigs(applied)
    const configuration = (configs[0] as ConfigEntry).configuration
    const blob = encodeRuntimeBlob(this.host.sessions.toJSON(), configs, this.host.sessions.expiryState(), this.host.accessState(), this.host.certificateState?.(), this.host.outboxState?.())
    const built = state === undefined ? undefined : { builder: new ManifestBuilder(applied, configuration, blob, state, this.options.chunkBytes), state }
    this.lastIndex = applied
    mark('vpeer: snapshot copy taken')
    const cancel = this.host.clock.every(this.options.stepMs, () => { this.step() })
    this.building = { index: applied, configuration, blob, serialize, built, cancel }
  }

  /** Serializes a captured state (once) and starts its manifest. */
  private materialize (b: Building): { readonly builder: ManifestBuilder, readonly state: Uint8Array } {
    if (b.built !== undefined) return b.built
    const state = (b.serialize as () => Uint8Array)()
    b.serialize = undefined
    b.built = { builder: new ManifestBuilder(b.index, b.configuration, b.blob, state, this.options.chunkBytes), state }
    mark('vpeer: captured snapshot serialized')
    return b.built
  }

  /**
   * Hashing paced by applying: `since` slots after the copy at least `since / horizon` of the
   * chunks are hashed, all of them once `horizon` = everySlots × BUILD_WITHIN_INTERVAL slots
   * were applied. Whatever the timer did already counts.
   */
  private pace (b: Building, applied: Slot): void {
    const horizon = Math.max(1, Math.floor(this.options.everySlots * BUILD_WITHIN_INTERVAL))
    const since = applied - b.index
    // A captured state not serialized yet: the timer gets the first half of the horizon to do
    // it off the apply path; after that the applies serialize it themselves (the same
    // back-pressure as for hashing), leaving the second half for the hashing.
    if (b.built === undefined && since < horizon / 2) return
    const { builder } = this.materialize(b)
    const total = builder.total
    const owed = since >= horizon ? total : Math.ceil(total * since / horizon)
    if (owed <= builder.done) return
    mark('vpeer: snapshot hashing paced by applies')
    this.advance(b, owed - builder.done)
  }

  /** One background step of the manifest (a few chunks hashed), on the clock. */
  private step (): void {
    const b = this.building
    if (b === undefined) return
    if (!this.host.running()) {
      this.stop()
      return
    }
    // The first step of a captured state serializes it, and hashes nothing more this tick.
    if (b.built === undefined) {
      this.materialize(b)
      return
    }
    this.advance(b, this.options.chunksPerStep)
  }

  /** Hashes up to `chunks` more; once the manifest is complete, queues its write between Readies. */
  private advance (b: Building, chunks: number): void {
    const { builder, state } = this.materialize(b)
    if (!builder.step(chunks)) return
    b.cancel()
    this.building = undefined
    this.storing = true
    const snap: LocalSnapshot = { meta: builder.finish(), state }
    this.host.between(async () => {
      try {
        await this.persist(snap)
      } finally {
        this.storing = false
      }
      // Between Readies the state is the applied index's: a snapshot that fell due while this
      // one was built is copied now, not at the next apply (which may never come).
      if (this.host.running()) this.captureIfDue(this.host.applied())
    })
  }

  /** In the Ready loop: store the snapshot (dropping the stored log ≤ index), then compact memory. */
  private async persist (snap: LocalSnapshot): Promise<void> {
    const index = snap.meta.index
    if (index <= this.host.node.compaction().snapshotIndex) {
      // A received snapshot overtook this one while it was being hashed.
      mark('vpeer: local snapshot overtaken, dropped')
      return
    }
    await this.host.storage.installSnapshot(snap.meta, snap.state)
    if (!this.host.running()) return
    this.host.node.snapshotTaken(index)
    const compacted = this.host.node.compactLog(index - this.options.retentionSlots)
    this.adopt(snap)
    this.taken++
    mark('vpeer: snapshot taken')
    this.host.trace(`${this.host.id} snapshot taken at ${index} (${snap.meta.size} bytes, ${snap.meta.chunkHashes.length} chunks), log compacted through ${compacted}`)
  }

  /** Cancels a manifest being built (halt/stop). */
  stop (): void {
    this.building?.cancel()
    this.building = undefined
  }
}
