/**
 * The witness: a small file beside LevelDB's, in the same folder, that records the last batch
 * LevelStorage acknowledged (its seq and chain hash, and the database id). It exists because
 * LevelDB cannot tell a lost tail of its write-ahead log from a crash before the write: both
 * recover to an older, consistent state. Written after each batch is durable and before the
 * call resolves, so on open a database older than the witness is a loss of acknowledged writes.
 *
 * Layout: 8 KiB, two copies 4 KiB apart; batch n goes to copy n mod 2, so a write torn by a
 * crash damages only the copy being written and the other still holds n − 1 (the database then
 * holds n: it was synced first). Each copy:
 *
 *   'VPWT' | version u8 = 1 | 3 zero bytes | db id (16) | seq u64be | chain (16) | CRC-32 of the above
 *
 * Overwriting preallocated blocks in place needs only `fdatasync` of data, not of file size.
 */
import { open, rename, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { ID_BYTES } from './codec.js'

export const WITNESS_FILE = 'VPEER-WITNESS'

const MAGIC = [0x56, 0x50, 0x57, 0x54] // 'VPWT'
const VERSION = 1
const COPY_STRIDE = 4096
const FILE_BYTES = 2 * COPY_STRIDE
const BODY_BYTES = 4 + 4 + ID_BYTES + 8 + ID_BYTES
const COPY_BYTES = BODY_BYTES + 4

export interface WitnessRecord {
  readonly dbId: Uint8Array
  readonly seq: number
  readonly chain: Uint8Array
}

/** What was found in the file: the newest valid copy, and how many copies were damaged. */
export interface WitnessReading {
  readonly record: WitnessRecord | undefined
  readonly damagedCopies: number
}

function encodeCopy (record: WitnessRecord): Uint8Array {
  const bytes = new Uint8Array(COPY_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(MAGIC, 0)
  bytes[4] = VERSION
  bytes.set(record.dbId, 8)
  view.setUint32(8 + ID_BYTES, Math.floor(record.seq / 0x1_0000_0000))
  view.setUint32(12 + ID_BYTES, record.seq % 0x1_0000_0000)
  bytes.set(record.chain, 16 + ID_BYTES)
  view.setUint32(BODY_BYTES, crc32(bytes.subarray(0, BODY_BYTES)))
  return bytes
}

function decodeCopy (bytes: Uint8Array, copy: number): WitnessRecord | undefined {
  if (bytes.byteLength < COPY_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(BODY_BYTES) !== crc32(bytes.subarray(0, BODY_BYTES))) return undefined
  if (MAGIC.some((byte, i) => bytes[i] !== byte) || bytes[4] !== VERSION) return undefined
  const seq = view.getUint32(8 + ID_BYTES) * 0x1_0000_0000 + view.getUint32(12 + ID_BYTES)
  // A copy in the wrong place is not one this code wrote there.
  if (!Number.isSafeInteger(seq) || seq % 2 !== copy) return undefined
  return {
    dbId: Uint8Array.from(bytes.subarray(8, 8 + ID_BYTES)),
    seq,
    chain: Uint8Array.from(bytes.subarray(16 + ID_BYTES, 16 + 2 * ID_BYTES))
  }
}

/** The open witness file of one LevelStorage. */
export class Witness {
  private constructor (private readonly handle: FileHandle) {}

  /**
   * Reads the witness in `dir`: `undefined` if there is no file, else the newest valid copy (or
   * none, if both are damaged).
   */
  static async read (dir: string): Promise<WitnessReading | undefined> {
    let handle: FileHandle
    try {
      handle = await open(join(dir, WITNESS_FILE), 'r')
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return undefined
      throw err
    }
    try {
      const bytes = new Uint8Array(FILE_BYTES)
      const { bytesRead } = await handle.read(bytes, 0, FILE_BYTES, 0)
      const copies = [0, 1].map((copy) =>
        decodeCopy(bytes.subarray(copy * COPY_STRIDE, Math.min(bytesRead, copy * COPY_STRIDE + COPY_BYTES)), copy))
      const valid = copies.filter((copy): copy is WitnessRecord => copy !== undefined)
      const record = valid.sort((a, b) => b.seq - a.seq)[0]
      return { record, damagedCopies: 2 - valid.length }
    } finally {
      await handle.close()
    }
  }

  /**
   * Creates the file for `record` atomically (temporary file, fsync, rename, fsync of the
   * folder), replacing any previous one, and returns it open for writing.
   */
  static async create (dir: string, record: WitnessRecord): Promise<Witness> {
    const path = join(dir, WITNESS_FILE)
    const temporary = `${path}.tmp`
    const bytes = new Uint8Array(FILE_BYTES)
    bytes.set(encodeCopy(record), (record.seq % 2) * COPY_STRIDE)
    const handle = await open(temporary, 'w')
    try {
      await handle.write(bytes, 0, FILE_BYTES, 0)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
    await syncDir(dir)
    return new Witness(await open(path, 'r+'))
  }

  /** Reopens an existing file for writing. */
  static async openExisting (dir: string): Promise<Witness> {
    return new Witness(await open(join(dir, WITNESS_FILE), 'r+'))
  }

  /** Records batch `record.seq` durably (one in-place write and one fdatasync). */
  async write (record: WitnessRecord): Promise<void> {
    const bytes = encodeCopy(record)
    await this.handle.write(bytes, 0, bytes.byteLength, (record.seq % 2) * COPY_STRIDE)
    await this.handle.datasync()
  }

  async close (): Promise<void> {
    await this.handle.close()
  }
}

/** Makes a rename or a new file in `dir` durable (the folder's entry, not only the file). */
export async function syncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Removes a leftover temporary file from a create that crashed (harmless if absent). */
export async function removeWitnessLeftovers (dir: string): Promise<void> {
  await rm(join(dir, `${WITNESS_FILE}.tmp`), { force: true })
}
