import { describe, expect, it } from 'vitest'
import {
  ACL_CLIENT_PREFIX, AccessList, MAX_ACCESS_ENTRIES, MAX_ACCESS_PEER_CHARS, MAX_ACL_BODY_BYTES, aclClient, aclIssuer, applyAclCommand, decodeAccessState,
  decodeAclOp, encodeAclOp, isAccessPeerId, isAclCommand
} from '../../../src/vpeer/access-list.js'
import type { AccessState } from '../../../src/vpeer/access-list.js'
import { CorruptSnapshotError } from '../../../src/migration/errors.js'
import { InvalidArgumentError } from '../../../src/vpeer/errors.js'
import { decodeRuntimeBlob, encodeRuntimeBlob } from '../../../src/vpeer/snapshots.js'

const enc = new TextEncoder()
const PEER = '12D3KooWGRUVh6LzSaxYzyF6Cs2mWFYHcRU7XXBqnxsDXkHALSDZ'

describe('AccessList', () => {
  it('starts with the genesis administrators, who are allowed', () => {
    const list = new AccessList(['b-admin', 'a-admin', 'b-admin'])
    expect(list.entries()).toEqual([{ peer: 'a-admin', admin: true }, { peer: 'b-admin', admin: true }])
    expect(list.isAllowed('a-admin')).toBe(true)
    expect(list.isAdmin('a-admin')).toBe(true)
    expect(list.isAllowed(PEER)).toBe(false)
    expect(list.isAdmin(PEER)).toBe(false)
  })

  it('refuses an unmanageable or malformed genesis', () => {
    expect(() => new AccessList([])).toThrow(InvalidArgumentError)
    expect(() => new AccessList(['ok', 'has/slash'])).toThrow(InvalidArgumentError)
    expect(() => new AccessList([''])).toThrow(InvalidArgumentError)
    expect(() => new AccessList(['x'.repeat(MAX_ACCESS_PEER_CHARS + 1)])).toThrow(InvalidArgumentError)
    expect(() => new AccessList([42 as unknown as string])).toThrow(InvalidArgumentError)
  })

  it('allow adds plain clients, promotes and demotes explicitly, never by omission', () => {
    const list = new AccessList(['root'])
    expect(list.allow(PEER)).toEqual({ ok: true, change: { peer: PEER, allowed: true, admin: false, changed: true } })
    expect(list.allow(PEER)).toEqual({ ok: true, change: { peer: PEER, allowed: true, admin: false, changed: false } })
    expect(list.isAllowed(PEER)).toBe(true)
    expect(list.isAdmin(PEER)).toBe(false)
    expect(list.allow(PEER, { admin: true }).ok).toBe(true)
    expect(list.isAdmin(PEER)).toBe(true)
    // Without `admin` an administrator stays one.
    expect(list.allow(PEER)).toEqual({ ok: true, change: { peer: PEER, allowed: true, admin: true, changed: false } })
    expect(list.allow(PEER, { admin: false })).toEqual({ ok: true, change: { peer: PEER, allowed: true, admin: false, changed: true } })
    expect(list.isAdmin(PEER)).toBe(false)
    expect(list.isAllowed(PEER)).toBe(true)
  })

  it('an administrator may go as long as another remains; the last one may not', () => {
    const list = new AccessList(['root'])
    expect(list.revoke('root')).toMatchObject({ ok: false, reason: 'last-admin' })
    expect(list.allow('root', { admin: false })).toMatchObject({ ok: false, reason: 'last-admin' })
    expect(list.isAdmin('root')).toBe(true)
    list.allow('second', { admin: true })
    expect(list.revoke('root')).toEqual({ ok: true, change: { peer: 'root', allowed: false, admin: false, changed: true } })
    expect(list.isAllowed('root')).toBe(false)
    expect(list.revoke('second')).toMatchObject({ ok: false, reason: 'last-admin' })
    // A plain client does not count as an administrator.
    list.allow('plain')
    expect(list.allow('second', { admin: false })).toMatchObject({ ok: false, reason: 'last-admin' })
  })

  it('revoking a stranger changes nothing; invalid peers throw', () => {
    const list = new AccessList(['root'])
    expect(list.revoke(PEER)).toEqual({ ok: true, change: { peer: PEER, allowed: false, admin: false, changed: false } })
    expect(() => list.allow('a/b')).toThrow(InvalidArgumentError)
    expect(() => list.revoke('\u0000')).toThrow(InvalidArgumentError)
  })

  it('is bounded: one more peer than MAX_ACCESS_ENTRIES is refused, changes of present ones are not', () => {
    const list = new AccessList(['root'])
    for (let i = 1; i < MAX_ACCESS_ENTRIES; i++) expect(list.allow(`p${i}`).ok).toBe(true)
    expect(list.size).toBe(MAX_ACCESS_ENTRIES)
    expect(list.allow('one-more')).toMatchObject({ ok: false, reason: 'full' })
    expect(list.allow('p7', { admin: true }).ok).toBe(true)
    expect(list.revoke('p8').ok).toBe(true)
    expect(list.allow('one-more').ok).toBe(true)
  })

  it('state is deterministic whatever the order of changes, and round-trips', () => {
    const a = new AccessList(['root'])
    const b = new AccessList(['root'])
    for (const p of ['zed', 'amy', 'Mia', 'bob']) a.allow(p)
    for (const p of ['bob', 'Mia', 'zed', 'amy']) b.allow(p)
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()))
    expect(a.toJSON()).toEqual([['Mia', false], ['amy', false], ['bob', false], ['root', true], ['zed', false]])
    const c = new AccessList(['other'])
    c.restore(JSON.parse(JSON.stringify(a.toJSON())) as AccessState)
    expect(c.entries()).toEqual(a.entries())
    expect(c.isAdmin('other')).toBe(false)
    // The administrator count came along: the last one is still protected.
    expect(c.revoke('root')).toMatchObject({ ok: false, reason: 'last-admin' })
    c.restore(undefined)
    expect(c.entries()).toEqual([{ peer: 'other', admin: true }])
  })
})

describe('decodeAccessState (hostile snapshot data)', () => {
  const bad: Array<[string, unknown]> = [
    ['not an array', { root: true }],
    ['null', null],
    ['empty', []],
    ['no administrator', [['a', false]]],
    ['entry not a pair', [['root', true, 1]]],
    ['entry not an array', ['root']],
    ['admin not a boolean', [['root', 1]]],
    ['peer not a string', [[7, true]]],
    ['peer with a slash', [['ro/ot', true]]],
    ['peer with a NUL', [['ro\u0000ot', true]]],
    ['peer too long', [['x'.repeat(MAX_ACCESS_PEER_CHARS + 1), true]]],
    ['duplicate', [['root', true], ['root', false]]],
    ['out of order', [['root', true], ['amy', false]]],
    ['too many', Array.from({ length: MAX_ACCESS_ENTRIES + 1 }, (_, i) => [`p${String(i).padStart(6, '0')}`, true])]
  ]
  for (const [what, raw] of bad) {
    it(`refuses ${what} with CorruptSnapshotError`, () => {
      expect(() => decodeAccessState(raw)).toThrow(CorruptSnapshotError)
    })
  }

  it('accepts what toJSON produced, at the maximum size', () => {
    const full = Array.from({ length: MAX_ACCESS_ENTRIES }, (_, i) => [`p${String(i).padStart(6, '0')}`, i === 0])
    expect(decodeAccessState(full)).toHaveLength(MAX_ACCESS_ENTRIES)
  })
})

describe('ACL commands', () => {
  it('client ids name the issuer before the first slash', () => {
    const client = aclClient(PEER, 'n/with/slashes')
    expect(client).toBe(`${ACL_CLIENT_PREFIX}${PEER}/n/with/slashes`)
    expect(isAclCommand({ client, seq: 1, data: new Uint8Array() })).toBe(true)
    expect(isAclCommand({ client: '\u0000cfg/x', seq: 1, data: new Uint8Array() })).toBe(false)
    expect(aclIssuer(client)).toBe(PEER)
    expect(aclIssuer(`${ACL_CLIENT_PREFIX}${PEER}`)).toBeUndefined()
    expect(aclIssuer(`${ACL_CLIENT_PREFIX}${PEER}/`)).toBeUndefined()
    expect(aclIssuer(`${ACL_CLIENT_PREFIX}/nonce`)).toBeUndefined()
    expect(aclIssuer(`${ACL_CLIENT_PREFIX}bad issuer/nonce`)).toBeUndefined()
    expect(aclIssuer(`plain/${PEER}/n`)).toBeUndefined()
  })

  it('bodies round-trip and anything else decodes to undefined', () => {
    for (const op of [{ op: 'allow', peer: PEER }, { op: 'allow', peer: PEER, admin: true }, { op: 'allow', peer: PEER, admin: false }, { op: 'revoke', peer: PEER }] as const) {
      expect(decodeAclOp(encodeAclOp(op))).toEqual(op)
    }
    const raw = (s: string): Uint8Array => enc.encode(s)
    for (const s of [
      'nope', 'null', '[]', '"allow"', '{}',
      JSON.stringify({ op: 'grant', peer: PEER }),
      JSON.stringify({ op: 'allow' }),
      JSON.stringify({ op: 'allow', peer: 'a/b' }),
      JSON.stringify({ op: 'allow', peer: PEER, admin: 'yes' }),
      JSON.stringify({ op: 'allow', peer: PEER, admin: null }),
      JSON.stringify({ op: 'allow', peer: PEER, extra: 1 }),
      JSON.stringify({ op: 'revoke', peer: PEER, admin: true }),
      `{"op":"allow","peer":"${PEER}","__proto__":{"admin":true}}`,
      JSON.stringify({ op: 'allow', peer: PEER, pad: 'x'.repeat(MAX_ACL_BODY_BYTES) })
    ]) expect(decodeAclOp(raw(s)), s).toBeUndefined()
    expect(decodeAclOp(new Uint8Array([0xff, 0xfe]))).toBeUndefined()
  })

  it('apply: issuer first, then body, then the list’s own rules; each with its code', () => {
    const list = new AccessList(['root'])
    const cmd = (issuer: string, body: Uint8Array): { client: string, seq: number, data: Uint8Array } => ({ client: aclClient(issuer, 'n'), seq: 1, data: body })
    const allow = encodeAclOp({ op: 'allow', peer: PEER })
    expect(applyAclCommand(undefined, cmd('root', allow))).toMatchObject({ ok: false, code: 'ERR_ACCESS_CONTROL_OFF' })
    expect(applyAclCommand(list, cmd('mallory', allow))).toMatchObject({ ok: false, code: 'ERR_NOT_ADMIN' })
    // A non-administrator is refused as such even with a malformed body.
    expect(applyAclCommand(list, cmd('mallory', enc.encode('garbage')))).toMatchObject({ ok: false, code: 'ERR_NOT_ADMIN' })
    expect(applyAclCommand(list, { client: `${ACL_CLIENT_PREFIX}root`, seq: 1, data: allow })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(applyAclCommand(list, cmd('root', enc.encode('garbage')))).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(list.isAllowed(PEER)).toBe(false)
    expect(applyAclCommand(list, cmd('root', allow))).toEqual({ ok: true, result: { peer: PEER, allowed: true, admin: false, changed: true } })
    expect(applyAclCommand(list, cmd('root', encodeAclOp({ op: 'revoke', peer: 'root' })))).toMatchObject({ ok: false, code: 'ERR_LAST_ADMIN' })
    // A plain client that is allowed is still no administrator.
    expect(applyAclCommand(list, cmd(PEER, encodeAclOp({ op: 'revoke', peer: 'root' })))).toMatchObject({ ok: false, code: 'ERR_NOT_ADMIN' })
  })
})

describe('runtime blob version 3', () => {
  const configs = [{ fromSlot: 1, configuration: { epoch: 1, voters: ['a', 'b', 'c'], learners: [] } }]
  const v3 = (extra: Record<string, unknown>): Uint8Array => enc.encode(JSON.stringify({ v: 3, sessions: [], configs, sessionClock: 0, tombstones: [], access: null, ...extra }))

  it('carries the access list, or none', () => {
    const access: AccessState = [[PEER, false], ['root', true]]
    expect(decodeRuntimeBlob(encodeRuntimeBlob([], configs, undefined, access)).access).toEqual(access)
    expect(decodeRuntimeBlob(encodeRuntimeBlob([], configs)).access).toBeUndefined()
    // Version 4 (the outbox, outbox.ts) keeps the access list as version 3 had it.
    expect(JSON.parse(new TextDecoder().decode(encodeRuntimeBlob([], configs))).v).toBe(4)
  })

  it('still decodes versions 1 and 2 (no access list: genesis)', () => {
    const sessions = [['c1', 3, [[3, { ok: true, result: 7 }]], 1500]]
    const blob2 = decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 2, sessions, configs, sessionClock: 2000, tombstones: [['gone', 1200]] })))
    expect(blob2).toEqual({ sessions, configs, sessionExpiry: { clockMs: 2000, tombstones: [['gone', 1200]] } })
    expect(blob2.access).toBeUndefined()
    const blob1 = decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 1, sessions: [['c1', 3, []]], configs })))
    expect(blob1.access).toBeUndefined()
    // Version 2 never had an access list; one there is ignored, as v2 decoding always did with extra fields.
    expect(decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 2, sessions: [], configs, sessionClock: 0, tombstones: [], access: 'x' }))).access).toBeUndefined()
  })

  it('refuses a version-3 blob with a damaged or missing access list', () => {
    expect(() => decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 3, sessions: [], configs, sessionClock: 0, tombstones: [] })))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v3({ access: [] }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v3({ access: [['a', false]] }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v3({ access: 'root' }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v3({ access: [['root', true], ['root', true]] }))).toThrow(CorruptSnapshotError)
    // Version-3 sessions have the version-2 shape.
    expect(() => decodeRuntimeBlob(v3({ sessions: [['c1', 3, []]] }))).toThrow(CorruptSnapshotError)
    expect(decodeRuntimeBlob(v3({ access: [['root', true]] })).access).toEqual([['root', true]])
  })
})

describe('isAccessPeerId', () => {
  it('takes libp2p peer id strings and readable names, nothing that could break a client id', () => {
    expect(isAccessPeerId(PEER)).toBe(true)
    expect(isAccessPeerId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')).toBe(true)
    expect(isAccessPeerId('bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe')).toBe(true)
    for (const bad of ['', 'a/b', 'a b', 'é', '\u0000', undefined, 3, 'x'.repeat(MAX_ACCESS_PEER_CHARS + 1)]) expect(isAccessPeerId(bad)).toBe(false)
  })
})
