/**
 * The hash chain across batches: chain(n) = SHA-256(chain(n−1) ‖ n ‖ every operation of batch n),
 * truncated to 16 bytes, starting from a hash of the database id. The head record and the
 * witness file both hold it, so "the same seq" also means "the same history": a database
 * swapped for a copy that went another way, or a witness from another folder, does not match.
 */
import { createHash } from 'node:crypto'
import { ID_BYTES } from './codec.js'

const ORIGIN_TAG = new TextEncoder().encode('vpeer storage chain v2')

/** chain(0): where every database's chain starts. */
export function chainOrigin (dbId: Uint8Array): Uint8Array {
  return truncate(createHash('sha256').update(ORIGIN_TAG).update(dbId).digest())
}

/** Accumulates one batch's operations; `digest()` is chain(seq). */
export class ChainStep {
  private readonly hash = createHash('sha256')

  constructor (prev: Uint8Array, seq: number) {
    const header = new Uint8Array(ID_BYTES + 8)
    header.set(prev)
    const view = new DataView(header.buffer)
    view.setUint32(ID_BYTES, Math.floor(seq / 0x1_0000_0000))
    view.setUint32(ID_BYTES + 4, seq % 0x1_0000_0000)
    this.hash.update(header)
  }

  /** A put of a sealed value whose CRC (over key and value) is `crc`. */
  put (key: Uint8Array, crc: number): void {
    const op = new Uint8Array(2 + key.byteLength + 4)
    op[0] = 0x50 // 'P'
    op[1] = key.byteLength
    op.set(key, 2)
    new DataView(op.buffer).setUint32(2 + key.byteLength, crc)
    this.hash.update(op)
  }

  del (key: Uint8Array): void {
    const op = new Uint8Array(2 + key.byteLength)
    op[0] = 0x44 // 'D'
    op[1] = key.byteLength
    op.set(key, 2)
    this.hash.update(op)
  }

  digest (): Uint8Array {
    return truncate(this.hash.digest())
  }
}

function truncate (digest: Uint8Array): Uint8Array {
  return Uint8Array.from(digest.subarray(0, ID_BYTES))
}

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
