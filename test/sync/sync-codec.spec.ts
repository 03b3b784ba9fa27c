import { describe, expect, it } from 'vitest'
import { CatalogSnapshotError, SyncCodecError } from '../../src/sync/errors.js'
import { SyncReader, SyncWriter } from '../../src/sync/sync-codec.js'

const reader = (bytes: Uint8Array): SyncReader => new SyncReader(bytes, 'test frame')

describe('sync codec primitives', () => {
  it('a string that starts with U+FEFF decodes with it (re-encodes to the same bytes)', () => {
    const bytes = new SyncWriter('test frame').str('\uFEFFa', 16).finish()
    expect([...bytes]).toEqual([4, 0xef, 0xbb, 0xbf, 0x61])
    expect(reader(bytes).str('s', 16)).toBe('\uFEFFa')
  })

  it('refuses to encode a lone surrogate or a non-string, and to decode invalid UTF-8', () => {
    expect(() => new SyncWriter('test frame').str('a\uDC00', 16)).toThrow(/well-formed UTF-16/)
    expect(() => new SyncWriter('test frame').str(7 as unknown as string, 16)).toThrow(SyncCodecError)
    expect(() => reader(Uint8Array.of(1, 0xff)).str('s', 16)).toThrow(/not valid UTF-8/)
  })

  it('ids are 64 lowercase hex digits as 32 raw bytes; a count beyond the limit or the bytes left is refused', () => {
    const ids = ['ab'.repeat(32), '01'.repeat(32)]
    const bytes = new SyncWriter('test frame').ids(ids, 2).finish()
    expect(bytes.length).toBe(1 + 64)
    const r = reader(bytes)
    expect(r.ids('id', 2)).toEqual(ids)
    r.end()
    expect(() => new SyncWriter('test frame').ids(ids, 1)).toThrow(/at most 1/)
    expect(() => new SyncWriter('test frame').id('AB'.repeat(32))).toThrow(/hex/)
    expect(() => reader(bytes).ids('id', 1)).toThrow(/id count 2 outside \[0, 1\]/)
    // Three ids announced, two in the input: refused at the count, before reading any.
    expect(() => reader(Uint8Array.of(3, ...bytes.subarray(1))).ids('id', 10)).toThrow(/id count 3 outside \[0, 2\]/)
  })

  it('fails with the error the format names, and says what and where', () => {
    const snapshot = (message: string): CatalogSnapshotError => new CatalogSnapshotError(message)
    const r = new SyncReader(Uint8Array.of(0, 2), 'catalog snapshot', snapshot)
    expect(r.bool('a')).toBe(false)
    expect(() => r.bool('b')).toThrow(CatalogSnapshotError)
    expect(() => r.bool('b')).toThrow('catalog snapshot refused at byte 1: b is not 0 or 1')
    expect(() => new SyncWriter('catalog snapshot', snapshot).byte(1).varint(-1)).toThrow('catalog snapshot cannot be encoded (at byte 1)')
  })
})
