/**
 * The receiving end of a snapshot transfer: takes chunks in any order, verifies each against the
 * manifest, says which chunk to ask for next, and hands out the state once all of it arrived.
 * Pure apart from SHA-256: it does no I/O and reads no clock; the runtime moves the bytes.
 */
import { assert } from '../util/assert.js'
import { decodeSnapshotMeta, encodeSnapshotMeta, sha256Hex } from './codec.js'
import {
  CorruptChunkError,
  CorruptSnapshotError,
  SnapshotMismatchError,
  SnapshotTooLargeError
} from './errors.js'
import type { SnapshotMeta } from './snapshot.js'
import { chunkBounds, cloneSnapshotMeta, firstBadChunk, verifyManifest } from './snapshot.js'

export interface ReceiverOptions {
  /** Largest state accepted, in bytes. The whole state is held in memory until installed. */
  snapshotBytesMax?: number
  /** Most chunks accepted (the manifest carries 32 bytes of hash per chunk). */
  chunkCountMax?: number
  /** Largest single chunk accepted: bounds the size of one transport frame. */
  chunkBytesMax?: number
  /**
   * The root this receiver is meant to fetch, when the caller learnt it from a source it trusts
   * more than the sender (for example the leader's offer). A manifest with another root is
   * refused with `SnapshotMismatchError`.
   */
  expectRoot?: string
}

/** Defaults for `ReceiverOptions`. */
export const RECEIVER_DEFAULTS: Readonly<Required<Omit<ReceiverOptions, 'expectRoot'>>> = Object.freeze({
  snapshotBytesMax: 1024 * 1024 * 1024,
  chunkCountMax: 262_144,
  chunkBytesMax: 16 * 1024 * 1024
})

export interface ReceiverProgress {
  readonly chunks: number
  readonly chunksTotal: number
  readonly bytes: number
  readonly bytesTotal: number
}

/**
 * What `toJSON` exports: enough to rebuild the receiver after a restart, given the chunk bytes
 * themselves (which the caller stores; see `fromJSON`). JSON-safe.
 */
export interface ReceiverState {
  readonly version: 1
  /** The encoded manifest, base64. */
  readonly manifest: string
  /** Received chunks as sorted, disjoint, non-adjacent half-open ranges `[start, end)`. */
  readonly received: ReadonlyArray<readonly [number, number]>
}

export class SnapshotReceiver {
  /** The verified manifest (a private copy). */
  readonly meta: SnapshotMeta
  private readonly have: Uint8Array
  // Allocated on the first chunk, so a refused or abandoned offer costs no state-sized buffer.
  private state: Uint8Array | undefined
  private chunks = 0
  private bytes = 0
  // Invariant: every chunk below `cursor` has arrived (chunks never go back to missing).
  private cursor = 0

  /**
   * Checks the manifest before anything is asked for: limits first (cheap, and they bound the
   * cost of what follows), then the root over all fields.
   * @throws SnapshotTooLargeError, CorruptSnapshotError, SnapshotMismatchError
   */
  constructor (meta: SnapshotMeta, options: ReceiverOptions = {}) {
    const limits = { ...RECEIVER_DEFAULTS, ...withoutUndefined(options) }
    if (typeof meta !== 'object' || meta === null) throw new CorruptSnapshotError('manifest is not an object')
    if (typeof meta.size === 'number' && meta.size > limits.snapshotBytesMax) {
      throw new SnapshotTooLargeError('size', meta.size, limits.snapshotBytesMax)
    }
    if (Array.isArray(meta.chunkHashes) && meta.chunkHashes.length > limits.chunkCountMax) {
      throw new SnapshotTooLargeError('chunk count', meta.chunkHashes.length, limits.chunkCountMax)
    }
    if (typeof meta.size === 'number' && typeof meta.chunkSize === 'number' &&
      Math.min(meta.size, meta.chunkSize) > limits.chunkBytesMax) {
      throw new SnapshotTooLargeError('chunk size', meta.chunkSize, limits.chunkBytesMax)
    }
    verifyManifest(meta)
    if (options.expectRoot !== undefined && options.expectRoot !== meta.root) {
      throw new SnapshotMismatchError(`Offered snapshot ${meta.root}, expected ${options.expectRoot}`)
    }
    this.meta = cloneSnapshotMeta(meta)
    this.have = new Uint8Array(this.meta.chunkHashes.length)
  }

  /** Receiver for an encoded manifest (as sent on the wire). */
  static fromManifest (bytes: Uint8Array, options: ReceiverOptions = {}): SnapshotReceiver {
    return new SnapshotReceiver(decodeSnapshotMeta(bytes), options)
  }

  get chunkCount (): number { return this.have.length }

  has (i: number): boolean { return this.have[i] === 1 }

  /**
   * Takes chunk `i`. Verifies its length and hash before keeping anything, and copies it (the
   * caller may reuse `bytes`). A chunk that already arrived is verified but not written again.
   * @param root the snapshot the sender says the chunk belongs to, when the message carries it
   * @returns true if the chunk was new, false for a duplicate
   * @throws SnapshotMismatchError (another root, or a position this snapshot does not have),
   *   CorruptChunkError (wrong length or hash). In both cases nothing changed: ask again.
   */
  accept (i: number, bytes: Uint8Array, root?: string): boolean {
    if (root !== undefined && root !== this.meta.root) {
      throw new SnapshotMismatchError(`Chunk ${i} of snapshot ${root} offered to the transfer of ${this.meta.root}`)
    }
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.have.length) {
      throw new SnapshotMismatchError(`Chunk ${i} does not exist in snapshot ${this.meta.root} (${this.have.length} chunks)`)
    }
    if (!(bytes instanceof Uint8Array)) throw new CorruptChunkError(i, 'not bytes')
    const { start, end } = chunkBounds(this.meta, i)
    if (bytes.byteLength !== end - start) throw new CorruptChunkError(i, `${bytes.byteLength} bytes, expected ${end - start}`)
    const hash = sha256Hex(bytes)
    if (hash !== this.meta.chunkHashes[i]) throw new CorruptChunkError(i, `hash ${hash}, expected ${String(this.meta.chunkHashes[i])}`)
    if (this.have[i] === 1) return false
    this.state ??= new Uint8Array(this.meta.size)
    this.state.set(bytes, start)
    this.have[i] = 1
    this.chunks++
    this.bytes += bytes.byteLength
    while (this.cursor < this.have.length && this.have[this.cursor] === 1) this.cursor++
    return true
  }

  /** The first chunk still missing (where to resume), or undefined when all arrived. */
  nextNeeded (): number | undefined {
    return this.cursor < this.have.length ? this.cursor : undefined
  }

  /** Up to `max` missing chunks in order, for a sender that pipelines several requests. */
  missing (max = Number.POSITIVE_INFINITY): number[] {
    const out: number[] = []
    for (let i = this.cursor; i < this.have.length && out.length < max; i++) if (this.have[i] !== 1) out.push(i)
    return out
  }

  progress (): ReceiverProgress {
    return { chunks: this.chunks, chunksTotal: this.have.length, bytes: this.bytes, bytesTotal: this.meta.size }
  }

  isComplete (): boolean {
    return this.chunks === this.have.length
  }

  /**
   * The whole state, once every chunk arrived. Each chunk was verified on arrival; the state is
   * verified again here, chunk hashes and root, right before it is handed to an install (the
   * pair assertion: a failure means our bookkeeping is wrong, not the sender).
   */
  complete (): Uint8Array {
    assert(this.isComplete(), () => `complete() with ${this.have.length - this.chunks} chunks missing (next: ${String(this.nextNeeded())})`)
    const state = this.state ?? new Uint8Array(0)
    assert(this.meta.size > 0 || this.state === undefined, 'an empty snapshot received bytes')
    verifyManifest(this.meta)
    assert(firstBadChunk(this.meta, state) === undefined, 'a verified chunk changed before install')
    return state
  }

  /**
   * The received chunk set with the manifest, for `fromJSON`. The chunk bytes are not in it:
   * they are the caller's to keep (they are what `accept` was given).
   */
  toJSON (): ReceiverState {
    const received: Array<[number, number]> = []
    for (let i = 0; i < this.have.length; i++) {
      if (this.have[i] !== 1) continue
      const last = received[received.length - 1]
      if (last !== undefined && last[1] === i) last[1] = i + 1
      else received.push([i, i + 1])
    }
    return { version: 1, manifest: Buffer.from(encodeSnapshotMeta(this.meta)).toString('base64'), received }
  }

  /**
   * Rebuilds a receiver from `toJSON()` output and the chunk bytes the caller kept. Each chunk
   * listed as received is read with `readChunk` and verified again like a new arrival; one that
   * is missing or corrupt (a torn write before a crash) is simply missing again, so the transfer
   * resumes from `nextNeeded()` and never trusts bytes it did not re-check.
   * @throws CorruptSnapshotError (state or manifest malformed), SnapshotTooLargeError,
   *   SnapshotMismatchError (`options.expectRoot`)
   */
  static fromJSON (json: unknown, readChunk: (i: number) => Uint8Array | undefined, options: ReceiverOptions = {}): SnapshotReceiver {
    if (typeof json !== 'object' || json === null) throw new CorruptSnapshotError('receiver state is not an object')
    const state = json as Partial<Record<keyof ReceiverState, unknown>>
    if (state.version !== 1) throw new CorruptSnapshotError(`receiver state version ${String(state.version)}`)
    if (typeof state.manifest !== 'string') throw new CorruptSnapshotError('receiver state has no manifest')
    if (!Array.isArray(state.received)) throw new CorruptSnapshotError('receiver state has no received ranges')
    const receiver = SnapshotReceiver.fromManifest(Buffer.from(state.manifest, 'base64'), options)
    for (const range of state.received as unknown[]) {
      if (!Array.isArray(range) || range.length !== 2) throw new CorruptSnapshotError('malformed received range')
      const [start, end] = range as unknown[]
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) ||
        (start as number) < 0 || (end as number) > receiver.chunkCount || (start as number) >= (end as number)) {
        throw new CorruptSnapshotError(`received range ${JSON.stringify(range)} out of 0..${receiver.chunkCount}`)
      }
      for (let i = start as number; i < (end as number); i++) {
        const bytes = readChunk(i)
        if (bytes === undefined) continue
        try {
          receiver.accept(i, bytes)
        } catch (err) {
          if (!(err instanceof CorruptChunkError)) throw err
        }
      }
    }
    return receiver
  }
}

function withoutUndefined (options: ReceiverOptions): Partial<Required<Omit<ReceiverOptions, 'expectRoot'>>> {
  const out: Partial<Required<Omit<ReceiverOptions, 'expectRoot'>>> = {}
  if (options.snapshotBytesMax !== undefined) out.snapshotBytesMax = options.snapshotBytesMax
  if (options.chunkCountMax !== undefined) out.chunkCountMax = options.chunkCountMax
  if (options.chunkBytesMax !== undefined) out.chunkBytesMax = options.chunkBytesMax
  return out
}
