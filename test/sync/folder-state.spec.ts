import { describe, expect, it } from 'vitest'
import type { ApplyContext } from '../../src/contracts/index.js'
import { FolderStateMachine, NODE_TAG, folderCodec } from '../../src/sync/folder-state.js'
import { nodeCommandProblem } from '../../src/sync/address-book.js'
import type { NodeCommand } from '../../src/sync/address-book.js'
import { rootHashOf } from '../../src/sync/catalog-types.js'

const A = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const B = '12D3KooWK8KrN2HBortirvCYigXa7wXcJNUfdCsTRdY5Bax5erK4'
const ctx = (client: string, at = 1000): ApplyContext => ({ slot: 1, offset: 0, client, seq: 1, proposedAtMs: at } as unknown as ApplyContext)
const node = (peer: string, addrs = ['/ip4/127.0.0.1/tcp/4001']): NodeCommand => ({ type: 'node', peer, name: 'laptop', addrs })

describe('the replication group state: catalog + address book', () => {
  it('a machine sets only its own addresses, decided from the submitting session', () => {
    const s = new FolderStateMachine()
    expect(s.apply(node(A), ctx(`${A}#abc`))).toEqual({ status: 'ok' })
    expect(s.apply(node(A, ['/ip4/127.0.0.1/tcp/9']), ctx(`${B}/nonce`))).toMatchObject({ status: 'refused', reason: expect.stringMatching(/only its own/) })
    expect(s.apply(node(B), ctx(`${B}/nonce`))).toEqual({ status: 'ok' })
    expect(s.nodes.entries().map(r => [r.peer, r.addrs[0]])).toEqual([[A, '/ip4/127.0.0.1/tcp/4001'], [B, '/ip4/127.0.0.1/tcp/4001']].sort())
    for (const bad of [
      { ...node(A), addrs: [] }, { ...node(A), addrs: ['/ip4/127.0.0.1/tcp/1/p2p/' + A] }, { ...node(A), addrs: ['not an address'] },
      { ...node(A), name: '../x' }, { ...node('x'), peer: 'x' }, { ...node(A), addrs: Array(17).fill('/ip4/127.0.0.1/tcp/1') }
    ]) expect(nodeCommandProblem(bad, `${bad.peer}#1`), JSON.stringify(bad)).toBeDefined()
  })

  it('the codec keeps catalog commands as they were and refuses malformed address-book bytes', () => {
    const put = { type: 'put' as const, path: 'a.txt', base: 0, size: 0, mode: 0o644, mtimeMs: 1, origin: A, rootHash: rootHashOf([]), content: { full: [] } }
    expect(folderCodec.decode(folderCodec.encode(put))).toEqual(put)
    const bytes = folderCodec.encode(node(A))
    expect(bytes[0]).toBe(NODE_TAG)
    expect(folderCodec.decode(bytes)).toEqual(node(A))
    const refused = [new Uint8Array([...bytes, 0]), bytes.subarray(0, bytes.length - 1), new Uint8Array([NODE_TAG, 0xff])]
    for (const bad of refused) expect(() => folderCodec.decode(bad)).toThrow(expect.objectContaining({ code: 'ERR_SYNC_CODEC' }) as Error)
    expect(() => folderCodec.encode({ ...node(A), addrs: Array(17).fill('/ip4/127.0.0.1/tcp/1') })).toThrow(expect.objectContaining({ code: 'ERR_SYNC_CODEC' }) as Error)
  })

  it('snapshots carry both; a damaged one changes nothing', () => {
    const s = new FolderStateMachine()
    s.apply(node(A), ctx(`${A}#1`))
    s.apply({ type: 'put', path: 'x', base: 0, size: 0, mode: 0o644, mtimeMs: 1, origin: A, rootHash: rootHashOf([]), content: { full: [] } }, ctx(`${A}#1`))
    const bytes = s.snapshot()
    const t = new FolderStateMachine()
    t.restore(bytes)
    expect(t.nodes.entries()).toEqual(s.nodes.entries())
    expect(t.catalog.get('x')?.path).toBe('x')
    expect(t.snapshot()).toEqual(bytes)
    for (const cut of [3, 8, 12, bytes.length - 1]) {
      expect(() => { t.restore(bytes.subarray(0, cut)) }).toThrow(expect.objectContaining({ code: 'ERR_CATALOG_SNAPSHOT' }) as Error)
    }
    const forged = bytes.slice()
    forged[20] = 0x7b // inside the book's JSON
    expect(() => { t.restore(forged) }).toThrow(expect.objectContaining({ code: 'ERR_CATALOG_SNAPSHOT' }) as Error)
    expect(t.snapshot()).toEqual(bytes)
  })
})
