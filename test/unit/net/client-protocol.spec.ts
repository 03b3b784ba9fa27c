import { describe, expect, it } from 'vitest'
import { CLIENT_LIMITS, decodeRequest, decodeResponse, decodeThrough, encodeRequest, encodeResponse, encodeThrough } from '../../../src/net/client-protocol.js'
import type { ClientRequest, ClientResponse } from '../../../src/net/client-protocol.js'

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

describe('the client protocol codec', () => {
  const requests: ClientRequest[] = [
    { kind: 'submit', id: 1, nonce: 'abc', seq: 7, command: bytes(1, 2, 3) },
    { kind: 'read', id: 2, query: bytes() },
    { kind: 'info', id: 3 },
    { kind: 'access', id: 4, nonce: 'n_-1', seq: 0, op: 'revoke', peer: '12D3KooWX', admin: false },
    { kind: 'deliver', id: 5, nonce: 'Zz', seq: 2 ** 40, command: bytes(9) },
    { kind: 'notify', id: 6, messageId: bytes(1, 2, 3, 4), payload: new Uint8Array(1000).fill(7) },
    { kind: 'chain', id: 7, fromEpoch: 12 },
    { kind: 'outputs', id: 8, group: 'bafkreiexample', outputs: [{ seq: 5, data: bytes(1) }, { seq: 6, data: bytes() }] }
  ]
  const view = { leader: 'L', leaderAddrs: ['/ip4/127.0.0.1/tcp/1/p2p/L'], epoch: 3, voters: ['L', 'B'], learners: ['C'], member: 'B', applied: 99, memberAddrs: ['/ip4/127.0.0.1/tcp/1/p2p/L', '/ip4/127.0.0.1/tcp/2/p2p/C'] }
  const responses: ClientResponse[] = [
    { kind: 'ok', id: 1, result: bytes(4) },
    { kind: 'error', id: 2, code: 'ERR_X', message: 'no' },
    { kind: 'redirect', id: 3, ...view },
    { kind: 'info', id: 4, ...view, leader: undefined, leaderAddrs: [], memberAddrs: [] }
  ]

  it('round-trips every request and response kind', () => {
    for (const r of requests) expect(decodeRequest(encodeRequest(r))).toEqual(r)
    for (const r of responses) expect(decodeResponse(encodeResponse(r))).toEqual(r)
  })

  it('refuses every truncation and any trailing byte, with a typed error', () => {
    for (const r of [...requests.map(encodeRequest)]) {
      for (let n = 0; n < r.byteLength; n++) expect(() => decodeRequest(r.subarray(0, n))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
      expect(() => decodeRequest(Uint8Array.from([...r, 0]))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    }
    for (const r of responses.map(encodeResponse)) {
      for (let n = 0; n < r.byteLength; n++) expect(() => decodeResponse(r.subarray(0, n))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    }
  })

  it('bounds outputs: none, too many, or too many bytes are refused both ways; the through seq is one varint', () => {
    expect(() => encodeRequest({ kind: 'outputs', id: 1, group: 'g', outputs: [] })).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    const many = Array.from({ length: CLIENT_LIMITS.outputsMax + 1 }, (_, i) => ({ seq: i + 1, data: bytes() }))
    expect(() => encodeRequest({ kind: 'outputs', id: 1, group: 'g', outputs: many })).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    const big = [{ seq: 1, data: new Uint8Array(CLIENT_LIMITS.payloadBytesMax) }, { seq: 2, data: bytes(1) }]
    expect(() => encodeRequest({ kind: 'outputs', id: 1, group: 'g', outputs: big })).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    // Hand-built: version, kind outputs (8), id 1, group 'g', count 0.
    expect(() => decodeRequest(bytes(1, 8, 1, 1, 103, 0))).toThrow(/output count 0/)
    for (const n of [0, 1, 127, 128, 2 ** 40]) expect(decodeThrough(encodeThrough(n))).toBe(n)
    expect(() => decodeThrough(bytes(0x80, 0))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    expect(() => decodeThrough(bytes(1, 2))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
  })

  it('refuses an empty or oversized message id, an unknown kind and a bad nonce', () => {
    expect(() => encodeRequest({ kind: 'notify', id: 1, messageId: bytes(), payload: bytes() })).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    // Hand-built: version 1, kind notify (7), id 1, message id of length 0, empty payload.
    expect(() => decodeRequest(bytes(1, 7, 1, 0, 0))).toThrow(/empty message id/)
    const long = new Uint8Array(CLIENT_LIMITS.messageIdBytesMax + 1)
    expect(() => decodeRequest(bytes(1, 7, 1, long.byteLength, ...long, 0))).toThrow(expect.objectContaining({ code: 'ERR_CLIENT_PROTOCOL' }))
    expect(() => decodeRequest(bytes(1, 99, 1))).toThrow(/unknown request kind/)
    const bad = encodeRequest({ kind: 'deliver', id: 1, nonce: 'ok', seq: 1, command: bytes() })
    bad[4] = '/'.charCodeAt(0) // the nonce 'ok' becomes 'o/': not a token
    expect(() => decodeRequest(bad)).toThrow(/nonce/)
  })
})
