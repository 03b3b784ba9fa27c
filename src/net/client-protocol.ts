/**
 * The client protocol (`/vpeer/client/1.0.0`): what a `VirtualPeerClient` and a member say to
 * each other. One long-lived stream per client and member carries length-prefixed frames;
 * requests carry an id, responses answer it, in any order.
 *
 * A request: version byte, kind byte, request id (varint), then
 * - submit: session nonce (string), seq (varint), command bytes;
 * - read: query bytes;
 * - info: nothing;
 * - access: session nonce, seq, op byte (1 allow, 2 revoke), peer id (string), admin flag byte;
 * - deliver: as submit, but any member takes it (a follower proposes through its leader) and
 *   answers once the command is applied there: `send` gives it to every voter at once;
 * - notify: message id (bytes), payload bytes: a multicast notification, not ordered;
 * - chain: the epoch to start from (varint); answered with `ok` carrying a configuration chain
 *   page (`config-chain.ts`), or an error;
 * - outputs: the sending group's key (string), count, then per output its seq (varint) and data
 *   (bytes): another VP's leader delivering committed outputs (VP-to-VP messages); answered with
 *   `ok` carrying the seq taken through (varint).
 *
 * A response: version, kind, request id, then
 * - ok: result bytes (the application's encoding; JSON by default);
 * - error: code (string), message (string);
 * - redirect / info: leader id (string, empty = none known), the leader's addresses (count,
 *   strings), configuration epoch, voters (count, strings), learners (count, strings), the
 *   answering member's id and its applied index, then the addresses (with /p2p/) it knows of
 *   the configuration's members (count, strings). A follower answers a submit or a read with a
 *   redirect, never with silence.
 *
 * Decoding is strict (`ByteReader`): canonical varints, bounded lengths and counts, valid UTF-8,
 * no trailing bytes; anything else is a `ClientProtocolError`, and the member closes the stream.
 * The session's client id is never taken from the wire: the member builds it from the
 * authenticated PeerId and the nonce (`<peerId>/<nonce>`), so no client can submit as another.
 */
import { ByteReader } from '../util/byte-reader.js'
import { ByteWriter } from '../util/byte-writer.js'
import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export const CLIENT_PROTOCOL = '/vpeer/client/1.0.0'
const VERSION = 1

/** Bounds of the client protocol (a frame is also bounded by the stream's frame limit). */
export const CLIENT_LIMITS = Object.freeze({
  /** Bytes of a command, query or result. */
  payloadBytesMax: 1 << 20,
  /** UTF-8 bytes of a nonce, peer id, address, code or id. */
  stringBytesMax: 1024,
  /** Bytes of an error message. */
  messageBytesMax: 4096,
  /** Members in one list, addresses of the leader. */
  listMax: 1024,
  /** Outputs in one `outputs` request (their data together is bounded by payloadBytesMax). */
  outputsMax: 1024,
  /** Bytes of a multicast message id. */
  messageIdBytesMax: 64,
  /** Bytes of one frame. */
  frameBytesMax: (1 << 20) + 64 * 1024
})

/** Nonces are short tokens: they become part of the client id in the replicated session table. */
const NONCE = /^[A-Za-z0-9_-]{1,64}$/

export class ClientProtocolError extends CodedError {
  static override name = 'ClientProtocolError'
  readonly offset: number
  constructor (reason: string, offset: number, options?: CodedErrorOptions) {
    super(`client protocol frame refused at byte ${offset}: ${reason}`, 'ERR_CLIENT_PROTOCOL', options)
    this.offset = offset
  }
}

export type ClientRequest =
  | { readonly kind: 'submit', readonly id: number, readonly nonce: string, readonly seq: number, readonly command: Uint8Array }
  | { readonly kind: 'read', readonly id: number, readonly query: Uint8Array }
  | { readonly kind: 'info', readonly id: number }
  | { readonly kind: 'access', readonly id: number, readonly nonce: string, readonly seq: number, readonly op: 'allow' | 'revoke', readonly peer: string, readonly admin: boolean }
  | { readonly kind: 'deliver', readonly id: number, readonly nonce: string, readonly seq: number, readonly command: Uint8Array }
  | { readonly kind: 'notify', readonly id: number, readonly messageId: Uint8Array, readonly payload: Uint8Array }
  | { readonly kind: 'chain', readonly id: number, readonly fromEpoch: number }
  | { readonly kind: 'outputs', readonly id: number, readonly group: string, readonly outputs: ReadonlyArray<{ readonly seq: number, readonly data: Uint8Array }> }

export interface GroupView {
  /** The leader this member knows, or undefined. */
  readonly leader: string | undefined
  /** Where the leader listens (multiaddr strings, with /p2p/<id>); may be empty. */
  readonly leaderAddrs: readonly string[]
  readonly epoch: number
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  /** The answering member's id and how far it has applied the log (catch-up is visible from outside). */
  readonly member: string
  readonly applied: number
  /** Addresses (with /p2p/) the answering member knows of the configuration's members. */
  readonly memberAddrs: readonly string[]
}

export type ClientResponse =
  | { readonly kind: 'ok', readonly id: number, readonly result: Uint8Array }
  | { readonly kind: 'error', readonly id: number, readonly code: string, readonly message: string }
  | ({ readonly kind: 'redirect' | 'info', readonly id: number } & GroupView)

const REQ = { submit: 1, read: 2, info: 3, access: 4, chain: 5, deliver: 6, notify: 7, outputs: 8 } as const
const RES = { ok: 1, error: 2, redirect: 3, info: 4 } as const


export function isValidNonce (nonce: string): boolean {
  return NONCE.test(nonce)
}

// ---------------------------------------------------------------------------------------------
// Writing: fields are collected as parts and joined once.

class Parts extends ByteWriter {
  fail (reason: string, offset: number): never { throw new ClientProtocolError(reason, offset) }
  list (items: readonly string[]): this {
    if (items.length > CLIENT_LIMITS.listMax) this.fail(`${items.length} items exceed the limit of ${CLIENT_LIMITS.listMax}`, this.size)
    this.varint(items.length)
    for (const item of items) this.string(item, CLIENT_LIMITS.stringBytesMax)
    return this
  }
}

export function encodeRequest (r: ClientRequest): Uint8Array {
  const w = new Parts().byte(VERSION).byte(REQ[r.kind]).varint(r.id)
  switch (r.kind) {
    case 'submit':
    case 'deliver':
      w.string(r.nonce, CLIENT_LIMITS.stringBytesMax).varint(r.seq).bytes(r.command, CLIENT_LIMITS.payloadBytesMax)
      break
    case 'notify':
      if (r.messageId.byteLength === 0) throw new ClientProtocolError('an empty message id', 0)
      w.bytes(r.messageId, CLIENT_LIMITS.messageIdBytesMax).bytes(r.payload, CLIENT_LIMITS.payloadBytesMax)
      break
    case 'read': w.bytes(r.query, CLIENT_LIMITS.payloadBytesMax); break
    case 'info': break
    case 'access': w.string(r.nonce, CLIENT_LIMITS.stringBytesMax).varint(r.seq).byte(r.op === 'allow' ? 1 : 2).string(r.peer, CLIENT_LIMITS.stringBytesMax).byte(r.admin ? 1 : 0); break
    case 'chain': w.varint(r.fromEpoch); break
    case 'outputs': {
      if (r.outputs.length === 0 || r.outputs.length > CLIENT_LIMITS.outputsMax) throw new ClientProtocolError(`${r.outputs.length} outputs: 1 to ${CLIENT_LIMITS.outputsMax} per request`, 0)
      const total = r.outputs.reduce((n, o) => n + o.data.byteLength, 0)
      if (total > CLIENT_LIMITS.payloadBytesMax) throw new ClientProtocolError(`${total} bytes of outputs exceed the limit of ${CLIENT_LIMITS.payloadBytesMax}`, 0)
      w.string(r.group, CLIENT_LIMITS.stringBytesMax).varint(r.outputs.length)
      for (const o of r.outputs) w.varint(o.seq).bytes(o.data, CLIENT_LIMITS.payloadBytesMax)
      break
    }
  }
  return w.finish()
}

export function encodeResponse (r: ClientResponse): Uint8Array {
  const w = new Parts().byte(VERSION).byte(RES[r.kind]).varint(r.id)
  switch (r.kind) {
    case 'ok': w.bytes(r.result, CLIENT_LIMITS.payloadBytesMax); break
    case 'error': w.string(r.code, CLIENT_LIMITS.stringBytesMax).string(r.message.slice(0, 1000), CLIENT_LIMITS.messageBytesMax); break
    case 'redirect':
    case 'info':
      w.string(r.leader ?? '', CLIENT_LIMITS.stringBytesMax).list(r.leaderAddrs).varint(r.epoch).list(r.voters).list(r.learners)
        .string(r.member, CLIENT_LIMITS.stringBytesMax).varint(r.applied).list(r.memberAddrs)
      break
  }
  return w.finish()
}

// ---------------------------------------------------------------------------------------------
// Reading

class Reader extends ByteReader {
  fail (reason: string, cause?: unknown): never {
    throw new ClientProtocolError(reason, this.pos, cause === undefined ? undefined : { cause })
  }

  string (field: string, max: number): string { return this.utf8String(field, max) }

  data (field: string, max: number): Uint8Array {
    return this.take(field, this.length(field, max)).slice()
  }

  list (field: string): string[] {
    const count = this.varint(`${field} count`)
    // Each item takes at least one byte: a count beyond the bytes left is refused before allocating.
    if (count > CLIENT_LIMITS.listMax || count > this.remaining) this.fail(`${field} count ${count} exceeds the limit or the frame`)
    const out: string[] = []
    for (let i = 0; i < count; i++) out.push(this.string(field, CLIENT_LIMITS.stringBytesMax))
    return out
  }

  flag (field: string): boolean {
    const b = this.byte(field)
    if (b > 1) this.fail(`${field} must be 0 or 1, got ${b}`)
    return b === 1
  }

  get remaining (): number { return this.bytes.byteLength - this.pos }

  header (): number {
    const version = this.byte('version')
    if (version !== VERSION) this.fail(`unknown client protocol version ${version}`)
    return this.byte('kind')
  }
}

function nonceOf (reader: Reader): string {
  const nonce = reader.string('nonce', CLIENT_LIMITS.stringBytesMax)
  if (!isValidNonce(nonce)) reader.fail('nonce must be 1-64 characters of [A-Za-z0-9_-]')
  return nonce
}

/** A reader past the common head of every frame: size check, version, kind, request id. */
function openFrame (bytes: Uint8Array): { r: Reader, kind: number, id: number } {
  const r = new Reader(bytes)
  if (bytes.byteLength > CLIENT_LIMITS.frameBytesMax) r.fail(`frame of ${bytes.byteLength} bytes exceeds the limit`)
  const kind = r.header()
  return { r, kind, id: r.varint('request id') }
}

/** @throws ClientProtocolError */
export function decodeRequest (bytes: Uint8Array): ClientRequest {
  const { r, kind, id } = openFrame(bytes)
  let out: ClientRequest
  switch (kind) {
    case REQ.submit:
    case REQ.deliver: {
      const nonce = nonceOf(r)
      out = { kind: kind === REQ.submit ? 'submit' : 'deliver', id, nonce, seq: r.varint('seq'), command: r.data('command', CLIENT_LIMITS.payloadBytesMax) }
      break
    }
    case REQ.notify: {
      const messageId = r.data('message id', CLIENT_LIMITS.messageIdBytesMax)
      if (messageId.byteLength === 0) r.fail('empty message id')
      out = { kind: 'notify', id, messageId, payload: r.data('payload', CLIENT_LIMITS.payloadBytesMax) }
      break
    }
    case REQ.read: out = { kind: 'read', id, query: r.data('query', CLIENT_LIMITS.payloadBytesMax) }; break
    case REQ.info: out = { kind: 'info', id }; break
    case REQ.access: {
      const nonce = nonceOf(r)
      const seq = r.varint('seq')
      const op = r.byte('op')
      if (op !== 1 && op !== 2) r.fail(`access op must be 1 or 2, got ${op}`)
      out = { kind: 'access', id, nonce, seq, op: op === 1 ? 'allow' : 'revoke', peer: r.string('peer', CLIENT_LIMITS.stringBytesMax), admin: r.flag('admin') }
      break
    }
    case REQ.chain: out = { kind: 'chain', id, fromEpoch: r.varint('from epoch') }; break
    case REQ.outputs: {
      const group = r.string('group', CLIENT_LIMITS.stringBytesMax)
      const count = r.varint('output count')
      if (count === 0 || count > CLIENT_LIMITS.outputsMax || count > r.remaining) r.fail(`output count ${count} is out of bounds`)
      const outputs: Array<{ seq: number, data: Uint8Array }> = []
      let total = 0
      for (let i = 0; i < count; i++) {
        const seq = r.varint('output seq')
        const data = r.data('output data', CLIENT_LIMITS.payloadBytesMax)
        total += data.byteLength
        if (total > CLIENT_LIMITS.payloadBytesMax) r.fail('outputs exceed the payload limit')
        outputs.push({ seq, data })
      }
      out = { kind: 'outputs', id, group, outputs }
      break
    }
    default: return r.fail(`unknown request kind ${kind}`)
  }
  r.end()
  return out
}

/** @throws ClientProtocolError */
export function decodeResponse (bytes: Uint8Array): ClientResponse {
  const { r, kind, id } = openFrame(bytes)
  let out: ClientResponse
  switch (kind) {
    case RES.ok: out = { kind: 'ok', id, result: r.data('result', CLIENT_LIMITS.payloadBytesMax) }; break
    case RES.error: out = { kind: 'error', id, code: r.string('code', CLIENT_LIMITS.stringBytesMax), message: r.string('message', CLIENT_LIMITS.messageBytesMax) }; break
    case RES.redirect:
    case RES.info: {
      const leader = r.string('leader', CLIENT_LIMITS.stringBytesMax)
      const leaderAddrs = r.list('leader addresses')
      const epoch = r.varint('epoch')
      const voters = r.list('voters')
      const learners = r.list('learners')
      const member = r.string('member', CLIENT_LIMITS.stringBytesMax)
      const applied = r.varint('applied')
      const memberAddrs = r.list('member addresses')
      out = { kind: kind === RES.redirect ? 'redirect' : 'info', id, leader: leader === '' ? undefined : leader, leaderAddrs, epoch, voters, learners, member, applied, memberAddrs }
      break
    }
    default: return r.fail(`unknown response kind ${kind}`)
  }
  r.end()
  return out
}

/** The seq an `outputs` request was taken through: the `ok` result, one varint. */
export function encodeThrough (through: number): Uint8Array {
  return new Parts().varint(through).finish()
}

/** @throws ClientProtocolError on anything but one canonical varint */
export function decodeThrough (bytes: Uint8Array): number {
  const r = new Reader(bytes)
  const through = r.varint('through')
  r.end()
  return through
}
