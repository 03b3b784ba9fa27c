/**
 * Snapshot production inside the runtime (issue 3 §2), hashicorp/raft's Snapshot()/Persist()
 * split: on the apply path only a consistent copy is taken (the state machine's bytes, the session
 * table, the configurations at the applied index); hashing the copy into a manifest runs a few
 * chunks per clock tick, so the Ready loop (and the leader's committing) goes on meanwhile; the
 * finished snapshot is written to storage between two Readies, so storage writes stay in call
 * order and no apply races the write.
 *
 * Retention: `Storage.installSnapshot` drops the stored log ≤ index in the same atomic write, so
 * the durable log never keeps a tail below the snapshot. The `logRetentionSlots` slots below the
 * index are kept in the core's in-memory log only (`compactLog(index - retention)`), where they
 * serve catch-up of a slightly lagging peer without a snapshot transfer. After a restart the log
 * starts right above the snapshot; a peer that lags then gets the snapshot. That keeps the storage
 * contract as it is (one atomic install, no "snapshot but keep some log" mode) at the cost of a few
 * more transfers right after restarts.
 */
import { ManifestBuilder } from '../migration/snapshot.ts'
import type { SnapshotMeta } from '../migration/snapshot.ts'
import { CorruptSnapshotError } from '../migration/errors.ts'
import type { PaxosNode } from '../paxos/node.ts'
import type { ConfigEntry } from '../paxos/reconfiguration.ts'
import type { Configuration, NodeId, Slot } from '../paxos/types.ts'
import { mark } from '../util/marks.ts'
import type { Clock, Storage } from './interfaces.ts'
import type { Outcome, SessionTable } from './sessions.ts'

export const DEFAULT_SNAPSHOT_EVERY_SLOTS = 10_000
export const DEFAULT_LOG_RETENTION_SLOTS = 1000
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 64 * 1024
/** Chunks hashed per clock tick while a manifest is built (16 × 64 KiB ≈ 1 MiB ≈ 1 ms of SHA-256). */
export const DEFAULT_CHUNKS_PER_STEP = 16

export type SessionEntries<R> = Array<[string, number, Array<[number, Outcome<R>]>]>

/** What the runtime stores in `SnapshotMeta.sessions`: the session table and every configuration in force. */
export interface RuntimeSnapshotBlob<R> {
  readonly sessions: SessionEntries<R>
  /** The configurations governing slots above the snapshot's index (`PaxosNode.snapshotConfigs`). */
  readonly configs: ConfigEntry[]
}

/** A snapshot this node holds: manifest plus state, immutable once built. */
export interface LocalSnapshot {
  readonly meta: SnapshotMeta
  readonly state: Uint8Array
}

const BLOB_VERSION = 1

/**
 * Encodes the runtime's part of a snapshot as small versioned JSON. `SnapshotMeta.configuration`
 * can hold one configuration only, but while a change waits out its α window two (or more)
 * govern the slots above the index; they travel here, covered by the manifest's root.
 * Session outcomes must be JSON values (the result type R of the state machine).
 */
export function encodeRuntimeBlob<R> (sessions: SessionEntries<R>, configs: readonly ConfigEntry[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: BLOB_VERSION, sessions, configs }))
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
  if (raw.v !== BLOB_VERSION) throw new CorruptSnapshotError(`runtime blob version ${String(raw.v)}`)
  const { sessions, configs } = raw
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
    if (!Array.isArray(s) || s.length !== 3 || typeof s[0] !== 'string' || !isSlot(s[1]) || !Array.isArray(s[2])) {
      throw new CorruptSnapshotError('malformed session in runtime blob')
    }
    for (const r of s[2] as unknown[]) {
      if (!Array.isArray(r) || r.length !== 2 || !isSlot(r[0]) || !isOutcome(r[1])) throw new CorruptSnapshotError('malformed session outcome in runtime blob')
    }
  }
  return { sessions: sessions as SessionEntries<R>, configs: configs as ConfigEntry[] }
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
export interface SnapshotHost<R> {
  readonly id: NodeId
  readonly node: PaxosNode
  readonly storage: Storage
  readonly clock: Clock
  readonly sessions: SessionTable<R>
  readonly stateMachine: { snapshot: () => Uint8Array, restore: (bytes: Uint8Array) => void }
  running: () => boolean
  /** Runs `task` in the Ready loop between two Readies (storage writes stay ordered; no apply in between). */
  between: (task: () => Promise<void>) => void
  /** The applied index jumped to `index` (a received snapshot was installed). */
  jumped: (index: Slot) => void
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
  readonly builder: ManifestBuilder
  readonly state: Uint8Array
  readonly cancel: () => void
}

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
  }

  /**
   * Called on the apply path right after a Ready's committed slots were applied (`applied` is the
   * last of them). Takes the consistent copy when a snapshot is due; nothing else happens here.
   */
  afterApply (applied: Slot): void {
    const every = this.options.everySlots
    if (every <= 0 || this.building !== undefined || applied - this.lastIndex < every) return
    const state = this.host.stateMachine.snapshot()
    const configs = this.host.node.snapshotConfigs(applied)
    const blob = encodeRuntimeBlob(this.host.sessions.toJSON(), configs)
    const builder = new ManifestBuilder(applied, (configs[0] as ConfigEntry).configuration, blob, state, this.options.chunkBytes)
    this.lastIndex = applied
    mark('vpeer: snapshot copy taken')
    const cancel = this.host.clock.every(this.options.stepMs, () => { this.step() })
    this.building = { builder, state, cancel }
  }

  /** One background step of the manifest (a few chunks hashed). */
  private step (): void {
    const b = this.building
    if (b === undefined) return
    if (!this.host.running()) {
      this.stop()
      return
    }
    if (!b.builder.step(this.options.chunksPerStep)) return
    b.cancel()
    this.building = undefined
    const snap: LocalSnapshot = { meta: b.builder.finish(), state: b.state }
    this.host.between(async () => { await this.persist(snap) })
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
