/**
 * Snapshot transfer between members, carried by the same transport as the Paxos messages.
 *
 * Sender: a peer whose catch-up request fell below the compaction point appears in
 * `Ready.snapshotRequests`; we send it an offer (the encoded manifest of our newest snapshot) and
 * then serve whatever chunks it asks for, from the snapshot it names by root (the newest or the
 * one before).
 *
 * Receiver: an offer ahead of our commit index starts (or, for the same root, resumes) a
 * `SnapshotReceiver`; chunks are requested a few at a time (`windowChunks` in flight), each
 * verified on arrival; a corrupt one is asked for again at once, a lost one after
 * `chunkTimeoutMs`. A transfer without progress for `stallMs` is dropped, so the next offer (from
 * anyone) can start a new one. Once complete, the install runs in the Ready loop, in this order:
 * `Storage.installSnapshot` (one atomic write: a crash before it completes leaves the old state),
 * then the state machine and session table, then the core (`PaxosNode.installSnapshot`).
 */
import { decodeSnapshotMeta, encodeSnapshotMeta } from '../migration/codec.js'
import { CorruptChunkError, SnapshotError, SnapshotMismatchError } from '../migration/errors.js'
import { SnapshotReceiver } from '../migration/receiver.js'
import type { ReceiverOptions } from '../migration/receiver.js'
import { chunkAt } from '../migration/snapshot.js'
import type { SnapshotMessage, WireMessage } from '../contracts/index.js'
import type { NodeId, Slot } from '../paxos/index.js'
import { mark } from '../util/marks.js'
import { decodeRuntimeBlob } from './snapshots.js'
import type { LocalSnapshot, RuntimeSnapshotBlob, SnapshotHost, SnapshotManager } from './snapshots.js'

export type { SnapshotMessage, WireMessage } from '../contracts/index.js'

const SNAPSHOT_TYPES: ReadonlySet<string> = new Set(['snapshotOffer', 'snapshotChunkRequest', 'snapshotChunk', 'snapshotDone'])

export function isSnapshotMessage (m: WireMessage): m is SnapshotMessage {
  return SNAPSHOT_TYPES.has(m.type)
}

export interface SnapshotTransferOptions {
  /** Chunk requests in flight per transfer. */
  readonly windowChunks: number
  /** A requested chunk not received after this long is asked for again. */
  readonly chunkTimeoutMs: number
  /** A transfer with no chunk accepted for this long is abandoned. */
  readonly stallMs: number
  /** At most one offer per peer per this interval (catch-up requests repeat). */
  readonly offerIntervalMs: number
  readonly receiver?: ReceiverOptions
}

interface Incoming<R> {
  readonly receiver: SnapshotReceiver
  readonly blob: RuntimeSnapshotBlob<R>
  source: NodeId
  /** Requested chunk → when it was (last) asked for. */
  readonly requested: Map<number, number>
  lastProgressMs: number
  /** When the offer was taken: the transfer's duration ends at the install. */
  readonly startedMs: number
  installing: boolean
}

export interface TransferStats {
  offersSent: number
  chunksSent: number
  chunksReceived: number
  corruptChunks: number
  installs: number
}

export class SnapshotTransfer<R> {
  private readonly host: SnapshotHost<R>
  private readonly manager: SnapshotManager<R>
  private readonly send: (to: NodeId, message: SnapshotMessage) => void
  private readonly options: SnapshotTransferOptions
  private readonly lastOffer = new Map<NodeId, number>()
  private incoming: Incoming<R> | undefined
  readonly stats: TransferStats = { offersSent: 0, chunksSent: 0, chunksReceived: 0, corruptChunks: 0, installs: 0 }

  constructor (host: SnapshotHost<R>, manager: SnapshotManager<R>, send: (to: NodeId, message: SnapshotMessage) => void, options: SnapshotTransferOptions) {
    this.host = host
    this.manager = manager
    this.send = send
    this.options = options
  }

  /** Whether a transfer to this node is in progress (for status and tests). */
  get receiving (): boolean {
    return this.incoming !== undefined
  }

  // -------------------------------------------------------------------------------------
  // Sender

  /** `to` needs values below our compaction point: offer our newest snapshot. */
  offer (to: NodeId, force = false): void {
    const snap = this.manager.latest
    if (snap === undefined || to === this.host.id) return
    const now = this.host.clock.nowMs()
    const last = this.lastOffer.get(to)
    if (!force && last !== undefined && now - last < this.options.offerIntervalMs) return
    this.lastOffer.set(to, now)
    this.stats.offersSent++
    mark('vpeer: snapshot offered')
    this.send(to, { type: 'snapshotOffer', manifest: encodeSnapshotMeta(snap.meta) })
  }

  private onChunkRequest (from: NodeId, root: string, chunk: number): void {
    const snap: LocalSnapshot | undefined = this.manager.byRoot(root)
    if (snap === undefined) {
      // We no longer hold it (two newer snapshots were taken): point the receiver at the newest.
      mark('vpeer: chunk of a snapshot no longer held, re-offered')
      this.offer(from)
      return
    }
    if (!Number.isSafeInteger(chunk) || chunk < 0 || chunk >= snap.meta.chunkHashes.length) return
    this.manager.touch(snap, this.host.clock.nowMs(), this.options.stallMs)
    this.stats.chunksSent++
    this.send(from, { type: 'snapshotChunk', root, chunk, bytes: chunkAt(snap.state, snap.meta, chunk) })
  }

  // -------------------------------------------------------------------------------------
  // Receiver

  onMessage (from: NodeId, m: SnapshotMessage): void {
    switch (m.type) {
      case 'snapshotOffer': this.onOffer(from, m.manifest); break
      case 'snapshotChunkRequest': this.onChunkRequest(from, m.root, m.chunk); break
      case 'snapshotChunk': this.onChunk(from, m.root, m.chunk, m.bytes); break
      case 'snapshotDone':
        mark('vpeer: snapshot transfer acknowledged')
        this.host.trace(`${this.host.id} ${from} installed snapshot ${m.root.slice(0, 12)} at ${m.index}`)
        break
    }
  }

  private onOffer (from: NodeId, manifest: Uint8Array): void {
    // An offer answers our catch-up request: a snapshot replaces our state wholesale, so it is
    // taken only from a member we asked for chosen values, never from whoever sends one.
    if (!this.host.node.catchupRequested(from)) {
      mark('vpeer: unsolicited snapshot offer dropped')
      this.host.trace(`${this.host.id} dropped a snapshot offer from ${from}: not asked`)
      return
    }
    const cur = this.incoming
    if (cur?.installing === true) return
    let root: string
    try {
      root = decodeSnapshotMeta(manifest).root
    } catch (error) {
      this.refuse(from, error)
      return
    }
    if (cur !== undefined && cur.receiver.meta.root === root) {
      // The same snapshot again. From another member: resume there from where we are (the
      // requests in flight went to the old source). From the same one: keep the window as it is.
      if (from !== cur.source) {
        mark('vpeer: snapshot transfer resumed from another member')
        cur.source = from
        cur.requested.clear()
      }
      this.fill(cur)
      return
    }
    const now = this.host.clock.nowMs()
    if (cur !== undefined && now - cur.lastProgressMs < this.options.stallMs && cur.receiver.meta.index > this.host.node.status().commitIndex) {
      // Finish the transfer in progress; chasing every newer snapshot could never finish.
      return
    }
    let receiver: SnapshotReceiver
    let blob: RuntimeSnapshotBlob<R>
    try {
      receiver = SnapshotReceiver.fromManifest(manifest, this.options.receiver)
      blob = decodeRuntimeBlob<R>(receiver.meta.sessions)
    } catch (error) {
      this.refuse(from, error)
      return
    }
    if (receiver.meta.index <= this.host.node.status().commitIndex) {
      mark('vpeer: snapshot offer not ahead of our commit index, ignored')
      return
    }
    mark('vpeer: snapshot transfer started')
    this.host.trace(`${this.host.id} receiving snapshot at ${receiver.meta.index} from ${from} (${receiver.meta.size} bytes, ${receiver.chunkCount} chunks)`)
    const incoming: Incoming<R> = { receiver, blob, source: from, requested: new Map(), lastProgressMs: now, startedMs: now, installing: false }
    this.incoming = incoming
    this.fill(incoming)
    if (receiver.isComplete()) this.complete(incoming)
  }

  private refuse (from: NodeId, error: unknown): void {
    if (!(error instanceof SnapshotError)) throw error
    mark('vpeer: snapshot offer refused')
    this.host.trace(`${this.host.id} refused a snapshot offer from ${from}: ${error.message}`)
  }

  /** Keeps `windowChunks` requests in flight, lowest missing chunks first. */
  private fill (t: Incoming<R>): void {
    const now = this.host.clock.nowMs()
    for (const i of t.receiver.missing(t.requested.size + this.options.windowChunks)) {
      if (t.requested.size >= this.options.windowChunks) break
      if (t.requested.has(i)) continue
      t.requested.set(i, now)
      this.send(t.source, { type: 'snapshotChunkRequest', root: t.receiver.meta.root, chunk: i })
    }
  }

  private onChunk (from: NodeId, root: string, chunk: number, bytes: Uint8Array): void {
    const t = this.incoming
    if (t === undefined || t.installing || t.receiver.meta.root !== root || from !== t.source) {
      mark('vpeer: snapshot chunk for no current transfer dropped')
      return
    }
    try {
      t.receiver.accept(chunk, bytes, root)
    } catch (error) {
      if (error instanceof CorruptChunkError) {
        // Only this chunk is bad (the receiver kept nothing of it): ask for it again now.
        mark('vpeer: corrupt snapshot chunk re-requested')
        this.stats.corruptChunks++
        this.host.trace(`${this.host.id} ${error.message}: asking again`)
        t.requested.set(chunk, this.host.clock.nowMs())
        this.send(t.source, { type: 'snapshotChunkRequest', root, chunk })
        return
      }
      if (error instanceof SnapshotMismatchError) return
      throw error
    }
    this.stats.chunksReceived++
    t.requested.delete(chunk)
    t.lastProgressMs = this.host.clock.nowMs()
    if (t.receiver.isComplete()) this.complete(t)
    else this.fill(t)
  }

  private complete (t: Incoming<R>): void {
    t.installing = true
    t.requested.clear()
    const state = t.receiver.complete()
    this.host.between(async () => { await this.install(t, state) })
  }

  /**
   * In the Ready loop, so no Ready is between ready() and advance() and nothing is applied
   * meanwhile. Storage first: a crash before its write completes leaves the previous snapshot and
   * log, and the restarted node simply asks again.
   */
  private async install (t: Incoming<R>, state: Uint8Array): Promise<void> {
    const meta = t.receiver.meta
    const node = this.host.node
    if (meta.index <= node.status().appliedIndex) {
      mark('vpeer: received snapshot already behind, dropped')
      this.incoming = undefined
      return
    }
    const write = this.host.storage.installSnapshot(meta, state)
    // The trace line comes after the write was handed to storage and before it is durable:
    // the simulator's tests crash the node right here.
    this.host.trace(`${this.host.id} snapshot install at ${meta.index} from ${t.source}`)
    await write
    if (!this.host.running()) return
    this.host.stateMachine.restore(state)
    this.host.sessions.restore(t.blob.sessions, t.blob.sessionExpiry)
    this.host.restoreAccess(t.blob.access, meta.index)
    this.host.restoreCertificates?.(t.blob.certificates, t.blob.configs)
    this.host.restoreOutbox?.(t.blob.outbox)
    node.installSnapshot(meta.index, t.blob.configs)
    this.manager.adopt({ meta, state })
    this.incoming = undefined
    this.stats.installs++
    mark('vpeer: snapshot installed from a peer')
    this.host.jumped(meta.index, { from: t.source, bytes: state.byteLength, chunks: meta.chunkHashes.length, ms: this.host.clock.nowMs() - t.startedMs })
    this.send(t.source, { type: 'snapshotDone', root: meta.root, index: meta.index })
  }

  /** Periodic: re-request lost chunks, abandon stalled or pointless transfers. */
  tick (): void {
    const t = this.incoming
    if (t === undefined || t.installing) return
    const now = this.host.clock.nowMs()
    if (now - t.lastProgressMs >= this.options.stallMs || t.receiver.meta.index <= this.host.node.status().commitIndex) {
      mark('vpeer: snapshot transfer abandoned')
      this.host.trace(`${this.host.id} abandoned snapshot transfer at ${t.receiver.meta.index} (${t.receiver.progress().chunks}/${t.receiver.chunkCount} chunks)`)
      this.incoming = undefined
      return
    }
    for (const [i, at] of t.requested) {
      if (now - at < this.options.chunkTimeoutMs) continue
      mark('vpeer: snapshot chunk request timed out, asked again')
      t.requested.set(i, now)
      this.send(t.source, { type: 'snapshotChunkRequest', root: t.receiver.meta.root, chunk: i })
    }
  }
}
