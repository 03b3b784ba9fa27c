/**
 * Checks LevelDB's table files (`*.ldb`) before LevelDB opens them.
 *
 * classic-level reads tables without verifying block checksums (it exposes neither
 * `paranoid_checks` nor `verify_checksums`), and its bundled LevelDB 1.20 is built with
 * assertions on: one flipped bit in an uncompressed data block can make it parse a garbage key
 * and `abort()` the whole process (`ExtractUserKey: Assertion internal_key.size() >= 8`), found
 * by the storage fault suite. So before opening, every block of every *live* table (the ones the
 * current MANIFEST lists; a half-written table left by a crash during compaction is not live and
 * LevelDB deletes it) is checked against its CRC-32C, the table's size against the MANIFEST's,
 * and its footer against the blocks found. Costs one read of the tables per open (the snapshot
 * pieces dominate; roughly 1 s per few hundred MB).
 *
 * If CURRENT or the MANIFEST cannot be read or parsed, nothing is checked here: LevelDB's own
 * MANIFEST reader verifies checksums and refuses to open (ERR_CORRUPT_DATABASE). Formats: LevelDB
 * doc/table_format.md, doc/log_format.md, db/version_edit.cc.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseCorruptError } from './errors.js'

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** Extends a raw (not yet inverted) CRC-32C state by `bytes`. */
function crcExtend (state: number, bytes: Uint8Array, start: number, end: number): number {
  let c = state
  for (let i = start; i < end; i++) c = (CRC32C_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return c
}

/** LevelDB stores CRCs masked, so that a CRC of data containing CRCs is not trivially related. */
function mask (crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0
}

function u32le (bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0
}

const BLOCK_TRAILER = 5
const FOOTER_BYTES = 48
const TABLE_MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]

interface Block { readonly offset: number, readonly size: number }

class Cursor {
  pos = 0
  constructor (readonly bytes: Uint8Array, readonly end = bytes.byteLength) {}

  varint (): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint')
      const byte = this.bytes[this.pos++] as number
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) return value
      scale *= 0x80
    }
    throw new Error('varint too long')
  }

  skip (length: number): void {
    if (length > this.end - this.pos) throw new Error('truncated field')
    this.pos += length
  }
}

/**
 * Every block of a table, found in order from byte 0: a block ends where the CRC-32C of its
 * contents and type byte (0 raw, 1 snappy) equals the masked CRC stored after it. Block sizes
 * need no index this way (and the index block may be compressed); a false boundary needs a
 * 32-bit CRC collision.
 */
function tableBlocks (bytes: Uint8Array, end: number): { blocks: Block[], damagedAt?: number } {
  const blocks: Block[] = []
  let start = 0
  while (start < end) {
    let state = 0xffffffff
    let found = -1
    for (let e = start; e + BLOCK_TRAILER <= end; e++) {
      const type = bytes[e] as number
      if (type <= 1) {
        const crc = (crcExtend(state, bytes, e, e + 1) ^ 0xffffffff) >>> 0
        if (mask(crc) === u32le(bytes, e + 1)) {
          found = e
          break
        }
      }
      state = (CRC32C_TABLE[(state ^ type) & 0xff] as number) ^ (state >>> 8)
    }
    if (found < 0) return { blocks, damagedAt: start }
    blocks.push({ offset: start, size: found - start })
    start = found + BLOCK_TRAILER
  }
  return { blocks }
}

/** Returns why the table is damaged, or undefined if every block and the footer check out. */
export function tableDamage (bytes: Uint8Array, expectedSize: number): string | undefined {
  if (bytes.byteLength !== expectedSize) return `${bytes.byteLength} bytes, the MANIFEST says ${expectedSize}`
  if (bytes.byteLength < FOOTER_BYTES) return 'shorter than a table footer'
  const footerAt = bytes.byteLength - FOOTER_BYTES
  if (TABLE_MAGIC.some((byte, i) => bytes[footerAt + 40 + i] !== byte)) return 'bad table magic number'
  const { blocks, damagedAt } = tableBlocks(bytes, footerAt)
  if (damagedAt !== undefined) return `no block with a valid checksum starts at byte ${damagedAt}`
  let meta: Block
  let index: Block
  try {
    const footer = new Cursor(bytes, footerAt + 40)
    footer.pos = footerAt
    meta = { offset: footer.varint(), size: footer.varint() }
    index = { offset: footer.varint(), size: footer.varint() }
  } catch (err) {
    return `footer does not decode: ${(err as Error).message}`
  }
  const isBlock = (handle: Block): boolean => blocks.some((b) => b.offset === handle.offset && b.size === handle.size)
  const last = blocks[blocks.length - 1]
  if (!isBlock(meta) || last === undefined || last.offset !== index.offset || last.size !== index.size) {
    return 'the footer does not point at the table\'s metaindex and index blocks'
  }
  return undefined
}

/** The records of a LevelDB log-format file (the MANIFEST); undefined if any record is damaged. */
function logRecords (bytes: Uint8Array): Uint8Array[] | undefined {
  const BLOCK = 32768
  const records: Uint8Array[] = []
  let pending: Uint8Array[] | undefined
  let pos = 0
  while (pos < bytes.byteLength) {
    const left = BLOCK - (pos % BLOCK)
    if (left < 7) {
      pos += left
      continue
    }
    if (pos + 7 > bytes.byteLength) break // a header cut short by a crash: the end
    const length = (bytes[pos + 4] as number) | ((bytes[pos + 5] as number) << 8)
    const type = bytes[pos + 6] as number
    if (type === 0 && length === 0) {
      pos += left // zero padding up to the next block
      continue
    }
    if (pos + 7 + length > bytes.byteLength) break // a record cut short by a crash: the end
    const crc = (crcExtend(crcExtend(0xffffffff, bytes, pos + 6, pos + 7), bytes, pos + 7, pos + 7 + length) ^ 0xffffffff) >>> 0
    if (mask(crc) !== u32le(bytes, pos)) return undefined
    const data = bytes.subarray(pos + 7, pos + 7 + length)
    pos += 7 + length
    if (type === 1) {
      records.push(data)
    } else if (type === 2) {
      pending = [data]
    } else if (type === 3 && pending !== undefined) {
      pending.push(data)
    } else if (type === 4 && pending !== undefined) {
      pending.push(data)
      records.push(Buffer.concat(pending))
      pending = undefined
    } else {
      return undefined
    }
  }
  return records
}

/** Table number → size of every live table, from CURRENT and the MANIFEST; undefined if unreadable. */
async function liveTables (dir: string): Promise<Map<number, number> | undefined> {
  let manifest: Uint8Array
  try {
    const current = await readFile(join(dir, 'CURRENT'), 'utf8')
    if (!/^MANIFEST-\d+\n$/.test(current)) return undefined
    manifest = await readFile(join(dir, current.trim()))
  } catch {
    return undefined
  }
  const records = logRecords(manifest)
  if (records === undefined) return undefined
  const live = new Map<string, { number: number, size: number }>()
  try {
    for (const record of records) {
      const edit = new Cursor(record)
      while (edit.pos < edit.end) {
        const tag = edit.varint()
        switch (tag) {
          case 1: edit.skip(edit.varint()); break // comparator
          case 2: case 3: case 4: case 9: edit.varint(); break // log, next file, last sequence, prev log
          case 5: edit.varint(); edit.skip(edit.varint()); break // compact pointer
          case 6: { const level = edit.varint(); live.delete(`${level}/${edit.varint()}`); break }
          case 7: {
            const level = edit.varint()
            const number = edit.varint()
            const size = edit.varint()
            edit.skip(edit.varint())
            edit.skip(edit.varint())
            live.set(`${level}/${number}`, { number, size })
            break
          }
          default: return undefined
        }
      }
    }
  } catch {
    return undefined
  }
  return new Map([...live.values()].map(({ number, size }) => [number, size]))
}

/**
 * Throws `DatabaseCorruptError` if a live table is damaged. A live table that is missing is left
 * to LevelDB, which refuses to open with "missing files".
 */
export async function checkLiveTables (dir: string): Promise<void> {
  const tables = await liveTables(dir)
  if (tables === undefined) return
  for (const [number, size] of tables) {
    const name = String(number).padStart(6, '0')
    let bytes: Uint8Array | undefined
    let file = `${name}.ldb`
    for (const candidate of [`${name}.ldb`, `${name}.sst`]) {
      try {
        bytes = await readFile(join(dir, candidate))
        file = candidate
        break
      } catch {}
    }
    if (bytes === undefined) continue
    const damage = tableDamage(bytes, size)
    if (damage !== undefined) throw new DatabaseCorruptError(`table ${file}: ${damage}`, { key: file })
  }
}
