import { describe, expect, it } from 'vitest'
import {
  CertificateTable, MAX_CERTIFIED_LINKS, MAX_SIGNATURE_BYTES, certCommand, certificateBytes, decodeCertificateState, majorityOf, parseCertCommand
} from '../../../src/vpeer/certificates.js'
import { fakeSigner } from './fake-signer.js'
import { CorruptSnapshotError } from '../../../src/migration/errors.js'
import { decodeRuntimeBlob, encodeRuntimeBlob } from '../../../src/vpeer/snapshots.js'
import type { Configuration } from '../../../src/paxos/index.js'

const C0: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: [] }
const C1: Configuration = { epoch: 1, voters: ['a', 'b', 'c'], learners: ['d'] }
const C2: Configuration = { epoch: 2, voters: ['a', 'b', 'd'], learners: [] }

function signed (table: CertificateTable, epoch: number, by: string): ReturnType<CertificateTable['add']> {
  const target = table.toSign(epoch)
  if (target === undefined) throw new Error(`no epoch ${epoch}`)
  return table.add(by, epoch, fakeSigner(by).sign(target.bytes) as Uint8Array)
}

describe('CertificateTable', () => {
  it('records configurations in order and completes a link at a majority of the replaced voters', () => {
    const t = new CertificateTable(C0, fakeSigner('a'))
    t.record(C1)
    t.record(C2)
    t.record(C1) // already known: ignored
    expect(t.newest).toEqual(C2)
    expect(t.owedBy('a')).toEqual([1, 2])
    expect(t.owedBy('d')).toEqual([]) // d was no voter of epoch 0 or 1
    expect(signed(t, 1, 'a')).toEqual({ ok: true, added: true, completed: false, epoch: 1 })
    expect(t.isComplete(1)).toBe(false)
    expect(signed(t, 1, 'a')).toEqual({ ok: true, added: false, completed: false, epoch: 1 })
    expect(signed(t, 1, 'c')).toEqual({ ok: true, added: true, completed: true, epoch: 1 })
    expect(t.isComplete(1)).toBe(true)
    expect(t.owedBy('b')).toEqual([2]) // epoch 1 is complete: b owes it nothing more
    // The chain stops before the first incomplete link.
    expect(t.chain()?.links.map(l => l.configuration.epoch)).toEqual([1])
    signed(t, 2, 'b')
    signed(t, 2, 'c')
    const chain = t.chain()
    expect(chain?.base).toEqual(C0)
    expect(chain?.links.map(l => [l.configuration.epoch, l.signatures.map(s => s.signer)])).toEqual([[1, ['a', 'c']], [2, ['b', 'c']]])
    expect(t.chain(1)?.base).toEqual(C1)
    expect(t.chain(1)?.links.length).toBe(1)
    expect(t.chain(2)).toEqual({ base: C2, links: [] })
    expect(t.chain(3)).toBeUndefined()
    expect(t.chain(0, 1)?.links.length).toBe(1)
  })

  it('refuses a non-voter, a bad or oversized signature and an unknown epoch, changing nothing', () => {
    const t = new CertificateTable(C0, fakeSigner('a'))
    t.record(C1)
    t.record(C2)
    expect(signed(t, 2, 'd')).toMatchObject({ ok: false, reason: 'not-a-voter' })
    const bytes = (t.toSign(1) as { bytes: Uint8Array }).bytes
    expect(t.add('b', 1, fakeSigner('c').sign(bytes) as Uint8Array)).toMatchObject({ ok: false, reason: 'bad-signature' })
    expect(t.add('b', 1, new Uint8Array(0))).toMatchObject({ ok: false, reason: 'bad-signature' })
    expect(t.add('b', 1, new Uint8Array(MAX_SIGNATURE_BYTES + 1))).toMatchObject({ ok: false, reason: 'bad-signature' })
    expect(t.add('a', 3, new Uint8Array(32))).toMatchObject({ ok: false, reason: 'unknown-epoch' })
    expect(t.add('a', 0, new Uint8Array(32))).toMatchObject({ ok: false, reason: 'unknown-epoch' })
    // A verifier that throws is a refusal, not a crash of the replica.
    const throwing = new CertificateTable(C0, { context: new Uint8Array(), sign: () => new Uint8Array(1), verify: () => { throw new Error('boom') } })
    throwing.record(C1)
    expect(throwing.add('a', 1, new Uint8Array(1))).toMatchObject({ ok: false, reason: 'bad-signature' })
    expect(t.toJSON().links.map(l => l[3])).toEqual([[], []])
  })

  it('signs the context too: a signature from another group does not verify', () => {
    const here = new CertificateTable(C0, fakeSigner('a', new Uint8Array([1])))
    here.record(C1)
    const elsewhere = certificateBytes(new Uint8Array([2]), C0, C1)
    expect(here.add('a', 1, fakeSigner('a').sign(elsewhere) as Uint8Array)).toMatchObject({ ok: false, reason: 'bad-signature' })
  })

  it('round-trips through snapshot state, deterministically', () => {
    const t = new CertificateTable(C0, fakeSigner('a'))
    t.record(C1)
    signed(t, 1, 'c')
    signed(t, 1, 'a')
    const state = t.toJSON()
    expect(state.links[0]?.[3].map(s => s[0])).toEqual(['a', 'c'])
    const u = new CertificateTable(C0, fakeSigner('b'))
    u.restore(JSON.parse(JSON.stringify(state)), C1)
    expect(u.toJSON()).toEqual(state)
    expect(u.isComplete(1)).toBe(true)
    // Without a table (an older snapshot) the table restarts from the snapshot's newest configuration.
    u.restore(undefined, C2)
    expect(u.chain()).toEqual({ base: C2, links: [] })
  })

  it('a gap rebases the table; past MAX_CERTIFIED_LINKS the oldest links go', () => {
    const t = new CertificateTable(C0, fakeSigner('a'))
    t.record({ epoch: 5, voters: ['a'], learners: [] })
    expect(t.baseEpoch).toBe(5)
    const u = new CertificateTable(C0, fakeSigner('a'))
    for (let e = 1; e <= MAX_CERTIFIED_LINKS + 2; e++) u.record({ epoch: e, voters: ['a', 'b', 'c'], learners: [] })
    expect(u.baseEpoch).toBe(2)
    expect(u.toJSON().links.length).toBe(MAX_CERTIFIED_LINKS)
  })

  it('certificate commands name signer and epoch; seq must be the epoch', () => {
    const c = certCommand('12D3KooWx/y', 7, new Uint8Array([1]))
    expect(parseCertCommand(c)).toEqual({ signer: '12D3KooWx/y', epoch: 7 })
    expect(parseCertCommand({ ...c, seq: 8 })).toBeUndefined()
    expect(parseCertCommand({ ...c, client: '\u0000cert/a/07' })).toBeUndefined()
    expect(parseCertCommand({ ...c, client: '\u0000cert//7' })).toBeUndefined()
    expect(parseCertCommand({ ...c, client: '\u0000acl/a/7' })).toBeUndefined()
    expect(majorityOf(C0)).toBe(2)
    expect(majorityOf({ epoch: 0, voters: ['a', 'b', 'c', 'd'], learners: [] })).toBe(3)
  })
})

describe('the certificate table in the runtime blob (version 4)', () => {
  const configs = [{ fromSlot: 1, configuration: C1 }]
  it('carries the table, or none; versions 1 to 3 still decode', () => {
    const t = new CertificateTable(C0, fakeSigner('a'))
    t.record(C1)
    signed(t, 1, 'b')
    const blob = decodeRuntimeBlob(encodeRuntimeBlob([], configs, undefined, undefined, t.toJSON()))
    expect(blob.certificates).toEqual(t.toJSON())
    expect(decodeRuntimeBlob(encodeRuntimeBlob([], configs)).certificates).toBeUndefined()
    const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))
    expect(decodeRuntimeBlob(enc({ v: 3, sessions: [], configs, sessionClock: 0, tombstones: [], access: null })).certificates).toBeUndefined()
    expect(decodeRuntimeBlob(enc({ v: 2, sessions: [], configs, sessionClock: 0, tombstones: [] })).configs).toEqual(configs)
    expect(decodeRuntimeBlob(enc({ v: 1, sessions: [], configs })).configs).toEqual(configs)
  })

  const good = (): Record<string, unknown> => JSON.parse(JSON.stringify({ base: [0, ['a', 'b', 'c'], []], links: [[1, ['a', 'b', 'c'], ['d'], [['a', 'AAAA'], ['b', 'AAAA']]]] }))
  const cases: Array<[string, (o: Record<string, any>) => void]> = [
    ['a link that skips an epoch', o => { o.links[0][0] = 2 }],
    ['a signer that was not a voter', o => { o.links[0][3][1][0] = 'd' }],
    ['signers out of order', o => { o.links[0][3].reverse() }],
    ['a signature that is not canonical base64', o => { o.links[0][3][0][1] = 'AAA' }],
    ['an empty voter list', o => { o.base[1] = [] }],
    ['a member twice', o => { o.links[0][2] = ['a'] }],
    ['a non-object', o => { o.base = 'x' }]
  ]
  for (const [what, damage] of cases) {
    it(`refuses ${what}`, () => {
      expect(() => decodeCertificateState(good())).not.toThrow()
      const o = good()
      damage(o)
      expect(() => decodeCertificateState(o)).toThrow(CorruptSnapshotError)
      const blob = new TextEncoder().encode(JSON.stringify({ v: 4, sessions: [], configs, sessionClock: 0, tombstones: [], access: null, certificates: o }))
      expect(() => decodeRuntimeBlob(blob)).toThrow(CorruptSnapshotError)
    })
  }
})
