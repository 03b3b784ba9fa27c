/**
 * The unit of state transfer: the state machine's bytes at applied index `index`, plus the
 * configuration and the client-session table at that index, described by a manifest.
 *
 * Production follows hashicorp/raft's `Snapshot()`/`Persist()` split: the runtime takes a
 * consistent copy (`StateMachine.snapshot()` returns bytes it will not mutate) on the apply path,
 * and everything after that (hashing with `ManifestBuilder`, streaming with `chunkAt`) works on the
 * copy, in steps the runtime schedules, so the leader keeps committing meanwhile.
 */
import type { Configuration, Slot } from '../paxos/index.js'
import { assert } from '../util/assert.js'
import { chunkCountOf, manifestRoot, sha256Hex } from './codec.js'
import { CorruptSnapshotError, InvalidSnapshotError } from './errors.js'

/**
 * Manifest of one snapshot. Plain data (it is stored, sent and compared).
 *
 * Invariants (checked by `verifyManifest`):
 * - `chunkHashes.length === ceil(size / chunkSize)`; chunk `i` is bytes
 *   `[i * chunkSize, min(size, (i + 1) * chunkSize))` of the state; an empty state has no chunk.
 * - `chunkHashes[i]` is the hex SHA-256 of chunk `i`.
 * - `root` is the hex SHA-256 of a domain tag and the canonical encoding of every other field
 *   (`codec.ts`), so the manifest authenticates itself: one 32-byte value, obtained from a
 *   trusted member, vouches for index, configuration, sessions and every byte of the state.
 */
export interface SnapshotMeta {
  /** The last slot whose command is reflected in the state. */
  readonly index: Slot
  /** The configuration in force at `index` (the one that governs slot `index + 1` onward, α aside). */
  readonly configuration: Configuration
  /** The replicated client-session table at `index`, encoded by its owner; opaque here. */
  readonly sessions: Uint8Array
  /** Bytes of the state machine's snapshot. */
  readonly size: number
  /** Bytes per chunk (the last chunk may be shorter). */
  readonly chunkSize: number
  /** Hex SHA-256 of each chunk, in order. */
  readonly chunkHashes: readonly string[]
  /** Hex SHA-256 over the domain tag and the encoding of all the fields above. */
  readonly root: string
}

/** Byte range `[start, end)` of chunk `i` in the state. The caller checks `i` is in range. */
export function chunkBounds (meta: Pick<SnapshotMeta, 'size' | 'chunkSize'>, i: number): { start: number, end: number } {
  const start = i * meta.chunkSize
  return { start, end: Math.min(meta.size, start + meta.chunkSize) }
}

/**
 * Hashes a state a few chunks at a time, so a large snapshot can be manifested without holding
 * the event loop: the runtime calls `step(n)` from its own scheduling (a tick, `setImmediate`)
 * until it returns true, then `finish()`. Pure apart from SHA-256; reads no clock.
 *
 * The state must not change between construction and `finish()` (it is the consistent copy).
 */
export class ManifestBuilder {
  private readonly hashes: string[] = []
  private readonly count: number

  constructor (
    private readonly index: Slot,
    private readonly configuration: Configuration,
    private readonly sessions: Uint8Array,
    private readonly state: Uint8Array,
    private readonly chunkSize: number
  ) {
    assert(Number.isSafeInteger(index) && index >= 0, `snapshot index must be a slot, got ${index}`)
    assert(Number.isSafeInteger(chunkSize) && chunkSize >= 1, `chunkSize must be a positive integer, got ${chunkSize}`)
    assert(state instanceof Uint8Array && sessions instanceof Uint8Array, 'state and sessions must be Uint8Arrays')
    this.count = chunkCountOf(state.byteLength, chunkSize)
  }

  /** Chunks hashed so far, of `total`. */
  get done (): number { return this.hashes.length }
  get total (): number { return this.count }

  /** Hashes up to `chunks` more chunks; returns true once every chunk is hashed. */
  step (chunks = Number.POSITIVE_INFINITY): boolean {
    const meta = { size: this.state.byteLength, chunkSize: this.chunkSize }
    for (let n = 0; n < chunks && this.hashes.length < this.count; n++) {
      const { start, end } = chunkBounds(meta, this.hashes.length)
      this.hashes.push(sha256Hex(this.state.subarray(start, end)))
    }
    return this.hashes.length === this.count
  }

  /**
   * The manifest. Copies configuration and sessions, so later changes by the caller do not
   * alter it. The root is computed, then checked by `verifyManifest` (the pair assertion: the
   * same check a receiver will run).
   * @throws InvalidSnapshotError if the configuration or sessions cannot be encoded
   */
  finish (): SnapshotMeta {
    assert(this.hashes.length === this.count, `finish() before every chunk was hashed (${this.hashes.length}/${this.count})`)
    const body = {
      index: this.index,
      configuration: {
        epoch: this.configuration.epoch,
        voters: [...this.configuration.voters],
        learners: [...this.configuration.learners]
      },
      sessions: new Uint8Array(this.sessions),
      size: this.state.byteLength,
      chunkSize: this.chunkSize,
      chunkHashes: [...this.hashes]
    }
    const meta: SnapshotMeta = { ...body, root: manifestRoot(body) }
    assert(isManifestValid(meta), 'a freshly built manifest does not verify')
    return meta
  }
}

/**
 * Builds the manifest of `state` in one go. For a large state prefer `ManifestBuilder`, stepped
 * from the runtime's scheduler: hashing costs about a millisecond per megabyte.
 * @throws InvalidSnapshotError if the configuration or sessions cannot be encoded
 */
export function buildManifest (
  index: Slot,
  configuration: Configuration,
  sessions: Uint8Array,
  state: Uint8Array,
  chunkSize: number
): SnapshotMeta {
  const builder = new ManifestBuilder(index, configuration, sessions, state, chunkSize)
  builder.step()
  return builder.finish()
}

/**
 * Chunk `i` of `state` for sending: a view, not a copy. Its hash is checked against the manifest
 * first (pair assertion: the manifest was checked when built, the bytes are checked as they
 * leave), so a state mutated after `buildManifest` is caught here, by us, not by the receiver.
 */
export function chunkAt (state: Uint8Array, meta: SnapshotMeta, i: number): Uint8Array {
  assert(state.byteLength === meta.size, `state has ${state.byteLength} bytes, the manifest says ${meta.size}`)
  assert(Number.isSafeInteger(i) && i >= 0 && i < meta.chunkHashes.length, `chunk ${i} out of range 0..${meta.chunkHashes.length - 1}`)
  const { start, end } = chunkBounds(meta, i)
  const chunk = state.subarray(start, end)
  assert(sha256Hex(chunk) === meta.chunkHashes[i], `chunk ${i} changed after its manifest was built`)
  return chunk
}

/**
 * Checks that `meta` is a well-formed manifest whose root is the hash of its fields.
 * @throws CorruptSnapshotError
 */
export function verifyManifest (meta: SnapshotMeta): void {
  if (typeof meta !== 'object' || meta === null) throw new CorruptSnapshotError('manifest is not an object')
  let actual: string
  try {
    actual = manifestRoot(meta)
  } catch (err) {
    if (err instanceof InvalidSnapshotError) throw new CorruptSnapshotError(`${err.field}: ${err.reason}`, { cause: err })
    throw err
  }
  if (actual !== meta.root) throw new CorruptSnapshotError(`root ${String(meta.root)} does not match the manifest (hashes to ${actual})`)
}

function isManifestValid (meta: SnapshotMeta): boolean {
  try {
    verifyManifest(meta)
    return true
  } catch {
    return false
  }
}

/**
 * The first chunk of `state` that does not match `meta` (its hash, or the total size when
 * `state` has the wrong length: then `-1`), or `undefined` when all of it matches. The manifest
 * itself is not checked here; see `verifyManifest`.
 */
export function firstBadChunk (meta: SnapshotMeta, state: Uint8Array): number | undefined {
  if (state.byteLength !== meta.size) return -1
  for (let i = 0; i < meta.chunkHashes.length; i++) {
    const { start, end } = chunkBounds(meta, i)
    if (sha256Hex(state.subarray(start, end)) !== meta.chunkHashes[i]) return i
  }
  return undefined
}

/** A deep copy sharing no mutable memory with `meta`. */
export function cloneSnapshotMeta (meta: SnapshotMeta): SnapshotMeta {
  return {
    index: meta.index,
    configuration: {
      epoch: meta.configuration.epoch,
      voters: [...meta.configuration.voters],
      learners: [...meta.configuration.learners]
    },
    // `new Uint8Array(x)` copies; `slice` on a Node Buffer would return a view.
    sessions: new Uint8Array(meta.sessions),
    size: meta.size,
    chunkSize: meta.chunkSize,
    chunkHashes: [...meta.chunkHashes],
    root: meta.root
  }
}
