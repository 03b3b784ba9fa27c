/**
 * Builds one LevelDB batch of LevelStorage: every value sealed with the batch's seq (`frame.ts`),
 * every operation fed to the hash chain (`chain.ts`) and to the log digest (`log-digest.ts`), and
 * the head record that describes the result appended last. Nothing here touches the database:
 * the caller writes `finish().ops` in one synced batch and only then commits the digest change.
 */
import type { Slot } from '../paxos/index.js'
import { ChainStep } from './chain.js'
import type { HeadRecord } from './codec.js'
import { encodeHeadRecord } from './codec.js'
import { sealedChecksum, sealRecord } from './frame.js'
import { HEAD_KEY, logKey, META_KEY, pieceKey, SNAPSHOT_KEY } from './keys.js'
import type { LogDigest, LogDigestChange } from './log-digest.js'

export type Op = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

/** The head record together with the seq of the batch that wrote it (from its frame). */
export interface Head extends HeadRecord {
  readonly seq: number
}

export class BatchWriter {
  readonly seq: number
  private readonly ops: Op[] = []
  private readonly chain: ChainStep
  private readonly log: LogDigestChange
  private metaSeq: number
  private snapshotSeq: number

  constructor (private readonly previous: Head, digest: LogDigest) {
    this.seq = previous.seq + 1
    this.chain = new ChainStep(previous.chain, this.seq)
    this.log = digest.change()
    this.metaSeq = previous.metaSeq
    this.snapshotSeq = previous.snapshotSeq
  }

  /** True while the batch would change nothing (then it is not written at all). */
  get empty (): boolean {
    return this.ops.length === 0
  }

  private put (key: Uint8Array, body: Uint8Array): number {
    const value = sealRecord(key, this.seq, body)
    const crc = sealedChecksum(value)
    this.ops.push({ type: 'put', key, value })
    this.chain.put(key, crc)
    return crc
  }

  /** Deletes any key (a stray one in the piece range included). */
  del (key: Uint8Array): void {
    this.ops.push({ type: 'del', key })
    this.chain.del(key)
  }

  putLog (slot: Slot, body: Uint8Array): void {
    this.log.put(slot, this.put(logKey(slot), body))
  }

  delLog (slot: Slot): void {
    this.del(logKey(slot))
    this.log.del(slot)
  }

  putMeta (body: Uint8Array): void {
    this.put(META_KEY, body)
    this.metaSeq = this.seq
  }

  putPiece (n: number, bytes: Uint8Array): void {
    this.put(pieceKey(n), bytes)
  }

  putSnapshot (body: Uint8Array): void {
    this.put(SNAPSHOT_KEY, body)
    this.snapshotSeq = this.seq
  }

  /** The operations, with the new head record last, and the head they leave. */
  finish (): { ops: Op[], head: Head } {
    const head: Head = {
      seq: this.seq,
      prevChain: this.previous.chain,
      chain: this.chain.digest(),
      metaSeq: this.metaSeq,
      snapshotSeq: this.snapshotSeq,
      logCount: this.log.count,
      logSum: this.log.sum
    }
    // The head is not part of its own chain step: it holds the step's result.
    this.ops.push({ type: 'put', key: HEAD_KEY, value: sealRecord(HEAD_KEY, this.seq, encodeHeadRecord(head)) })
    return { ops: this.ops, head }
  }

  /** Applies the digest change; call once the batch is durable. */
  commitDigest (): void {
    this.log.commit()
  }
}
