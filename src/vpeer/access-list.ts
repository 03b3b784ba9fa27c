/**
 * The group's client allow-list: which external clients (libp2p PeerId strings, authenticated by
 * the transport) may submit commands to the members, and which of them administer the list.
 *
 * It is replicated state, changed only by commands in the log, in a reserved client namespace
 * like membership changes (`'\u0000cfg/'`, reconfiguration.ts): an ACL command's client is
 * `'\u0000acl/' + issuer + '/' + nonce`, its data a small JSON body. Every replica applies the same
 * commands at the same slots to the same genesis list, so every replica holds the same list at
 * every slot; nothing here reads a clock, a random source or the local configuration.
 *
 * Rules (the same on every replica, checked when the command is applied, against the list as it
 * is at that slot):
 * - Only an administrator may change the list. The issuer is the peer the member that received
 *   the request authenticated; members are trusted to name it truthfully (they are trusted with
 *   the log anyway). A member's own node id is not an administrator unless it is on the list.
 * - Administrators are always allowed.
 * - An administrator may demote or revoke any administrator, itself included, as long as one
 *   administrator remains: removing the last one is refused (`last-admin`), since nobody could
 *   ever change the list again.
 * - `allow` never demotes by omission: without `admin` an existing entry keeps its role, a new
 *   one is a plain client. `admin: false` demotes explicitly.
 * - Revoking a peer that is not on the list succeeds and changes nothing (retries are harmless).
 * - The list holds at most `MAX_ACCESS_ENTRIES` peers; allowing one more is refused (`full`).
 */
import { CorruptSnapshotError } from '../migration/errors.js'
import type { Command } from '../paxos/index.js'
import { InvalidArgumentError } from '../util/errors.js'

/** Every client id starting with this is the runtime's own (membership changes, ACL commands). */
export const RESERVED_CLIENT_PREFIX = '\u0000'
/** The client namespace of ACL commands: `ACL_CLIENT_PREFIX + issuer + '/' + nonce`. */
export const ACL_CLIENT_PREFIX = '\u0000acl/'
/** Peers on the list at most (a few hundred KiB of snapshot blob at the most). */
export const MAX_ACCESS_ENTRIES = 10_000
/** Characters of a peer id (a libp2p PeerId string is 46 to 59 characters). */
export const MAX_ACCESS_PEER_CHARS = 128
/** Bytes of an ACL command's body (the JSON is about 100 bytes). */
export const MAX_ACL_BODY_BYTES = 512

/**
 * Peer ids are what libp2p prints (base58btc or base32 multibase, so letters and digits) plus a
 * few separators for readable test names. No `/` (it ends the issuer in an ACL client id), no
 * controls, nothing a log line or a JSON key could be confused by.
 */
const PEER_ID = /^[A-Za-z0-9._:-]+$/

/** Whether `peer` can be on an access list (and be an ACL command's issuer). */
export function isAccessPeerId (peer: unknown): peer is string {
  return typeof peer === 'string' && peer.length > 0 && peer.length <= MAX_ACCESS_PEER_CHARS && PEER_ID.test(peer)
}

export interface AccessEntry {
  readonly peer: string
  readonly admin: boolean
}

/** What an applied change did to one peer (the result an ACL command resolves with). */
export interface AccessChange {
  readonly peer: string
  /** On the list after the change. */
  readonly allowed: boolean
  /** An administrator after the change. */
  readonly admin: boolean
  /** False when the list already said so (a repeated allow, a revoke of a stranger). */
  readonly changed: boolean
}

export type AccessRefusalReason = 'last-admin' | 'full'

export type AccessChangeResult =
  | { readonly ok: true, readonly change: AccessChange }
  | { readonly ok: false, readonly reason: AccessRefusalReason, readonly message: string }

/** The list as it travels in a snapshot: `[peer, admin]` pairs in ascending peer order. */
export type AccessState = Array<[string, boolean]>

export class AccessList {
  /** peer → admin. Never empty of administrators. */
  private readonly peers = new Map<string, boolean>()
  private adminCount = 0
  private readonly genesis: readonly string[]

  /**
   * @param admins - the genesis administrators (at least one; every member must pass the same list)
   * @throws InvalidArgumentError if the list is empty, too long, or holds an invalid peer id
   */
  constructor (admins: readonly string[]) {
    if (!Array.isArray(admins) || admins.length === 0) throw new InvalidArgumentError('the access list needs at least one administrator')
    if (admins.length > MAX_ACCESS_ENTRIES) throw new InvalidArgumentError(`at most ${MAX_ACCESS_ENTRIES} administrators`)
    for (const a of admins) {
      if (!isAccessPeerId(a)) throw new InvalidArgumentError(`invalid administrator peer id ${JSON.stringify(String(a).slice(0, 64))}`)
    }
    this.genesis = [...new Set(admins)].sort(compare)
    this.reset()
  }

  /** Back to the genesis administrators (a snapshot without a list was loaded). */
  reset (): void {
    this.peers.clear()
    for (const a of this.genesis) this.peers.set(a, true)
    this.adminCount = this.genesis.length
  }

  isAllowed (peer: string): boolean {
    return this.peers.has(peer)
  }

  isAdmin (peer: string): boolean {
    return this.peers.get(peer) === true
  }

  get size (): number {
    return this.peers.size
  }

  /** Every entry, in ascending peer order. */
  entries (): AccessEntry[] {
    return [...this.peers].sort((a, b) => compare(a[0], b[0])).map(([peer, admin]) => ({ peer, admin }))
  }

  /**
   * Puts `peer` on the list. `admin` true promotes, false demotes, absent keeps the role of an
   * existing entry (a new entry is a plain client).
   * @throws InvalidArgumentError on an invalid peer id (the command decoder refuses those first)
   */
  allow (peer: string, options: { readonly admin?: boolean } = {}): AccessChangeResult {
    assertPeer(peer)
    const was = this.peers.get(peer)
    const admin = options.admin ?? was ?? false
    if (was === undefined && this.peers.size >= MAX_ACCESS_ENTRIES) {
      return { ok: false, reason: 'full', message: `the access list already holds ${MAX_ACCESS_ENTRIES} peers` }
    }
    if (was === true && !admin && this.adminCount === 1) {
      return { ok: false, reason: 'last-admin', message: `${peer} is the last administrator and cannot be demoted` }
    }
    if (was === admin) return { ok: true, change: { peer, allowed: true, admin, changed: false } }
    this.peers.set(peer, admin)
    if (was === true) this.adminCount--
    if (admin) this.adminCount++
    return { ok: true, change: { peer, allowed: true, admin, changed: true } }
  }

  /** Takes `peer` off the list (a stranger: nothing changes). */
  revoke (peer: string): AccessChangeResult {
    assertPeer(peer)
    const was = this.peers.get(peer)
    if (was === undefined) return { ok: true, change: { peer, allowed: false, admin: false, changed: false } }
    if (was && this.adminCount === 1) {
      return { ok: false, reason: 'last-admin', message: `${peer} is the last administrator and cannot be revoked` }
    }
    this.peers.delete(peer)
    if (was) this.adminCount--
    return { ok: true, change: { peer, allowed: false, admin: false, changed: true } }
  }

  /** Plain data for snapshots: deterministic (sorted), so equal lists encode to equal bytes. */
  toJSON (): AccessState {
    return this.entries().map(e => [e.peer, e.admin])
  }

  /** Replaces the whole list with a decoded state (`decodeAccessState`), or the genesis one if none. */
  restore (state: AccessState | undefined): void {
    if (state === undefined) {
      this.reset()
      return
    }
    const checked = decodeAccessState(state)
    this.peers.clear()
    this.adminCount = 0
    for (const [peer, admin] of checked) {
      this.peers.set(peer, admin)
      if (admin) this.adminCount++
    }
  }
}

/**
 * Checks that `raw` (parsed JSON of unknown origin: a stored or received snapshot) is a list
 * `toJSON` could have produced: at most `MAX_ACCESS_ENTRIES` `[peer, admin]` pairs of valid peer
 * ids in strictly ascending order (so no duplicates), at least one administrator.
 * @throws CorruptSnapshotError on anything else
 */
export function decodeAccessState (raw: unknown): AccessState {
  if (!Array.isArray(raw)) throw new CorruptSnapshotError('access list is not an array')
  if (raw.length === 0 || raw.length > MAX_ACCESS_ENTRIES) throw new CorruptSnapshotError(`access list has ${raw.length} entries`)
  const out: AccessState = []
  let previous: string | undefined
  let admins = 0
  for (const e of raw as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !isAccessPeerId(e[0]) || typeof e[1] !== 'boolean') {
      throw new CorruptSnapshotError('malformed access list entry')
    }
    if (previous !== undefined && compare(previous, e[0]) >= 0) throw new CorruptSnapshotError('access list entries out of order')
    previous = e[0]
    if (e[1]) admins++
    out.push([e[0], e[1]])
  }
  if (admins === 0) throw new CorruptSnapshotError('access list has no administrator')
  return out
}

// --- ACL commands ------------------------------------------------------------------------

export type AclOp =
  | { readonly op: 'allow', readonly peer: string, readonly admin?: boolean }
  | { readonly op: 'revoke', readonly peer: string }

export function isAclCommand (c: Command): boolean {
  return c.client.startsWith(ACL_CLIENT_PREFIX)
}

/**
 * The client id of an ACL command issued by `issuer`; `nonce` tells the issuer's sessions apart
 * (a session's seqs must ascend, so two concurrent requesters need two nonces).
 */
export function aclClient (issuer: string, nonce: string): string {
  return `${ACL_CLIENT_PREFIX}${issuer}/${nonce}`
}

/** The issuer named by an ACL command's client id, or undefined if it names none validly. */
export function aclIssuer (client: string): string | undefined {
  if (!client.startsWith(ACL_CLIENT_PREFIX)) return undefined
  const end = client.indexOf('/', ACL_CLIENT_PREFIX.length)
  if (end < 0 || end === client.length - 1) return undefined
  const issuer = client.slice(ACL_CLIENT_PREFIX.length, end)
  return isAccessPeerId(issuer) ? issuer : undefined
}

export function encodeAclOp (op: AclOp): Uint8Array {
  const body = op.op === 'allow' && op.admin !== undefined ? { op: 'allow', peer: op.peer, admin: op.admin } : { op: op.op, peer: op.peer }
  return new TextEncoder().encode(JSON.stringify(body))
}

/**
 * Decodes an ACL command's body: a JSON object with exactly the fields of one op (`admin` only
 * for `allow`, and boolean), a valid peer id, at most `MAX_ACL_BODY_BYTES`. Anything else is
 * undefined, refused alike on every replica.
 */
export function decodeAclOp (data: Uint8Array): AclOp | undefined {
  if (data.byteLength > MAX_ACL_BODY_BYTES) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const o = raw as Record<string, unknown>
  const keys = Object.keys(o)
  if (!isAccessPeerId(o.peer)) return undefined
  if (o.op === 'revoke') return keys.length === 2 ? { op: 'revoke', peer: o.peer } : undefined
  if (o.op !== 'allow') return undefined
  if (!('admin' in o)) return keys.length === 2 ? { op: 'allow', peer: o.peer } : undefined
  return keys.length === 3 && typeof o.admin === 'boolean' ? { op: 'allow', peer: o.peer, admin: o.admin } : undefined
}

/** Outcome codes of ACL commands (each has an error class in errors.ts). */
export const ACL_CODES = {
  notAdmin: 'ERR_NOT_ADMIN',
  invalid: 'ERR_INVALID_COMMAND',
  off: 'ERR_ACCESS_CONTROL_OFF',
  'last-admin': 'ERR_LAST_ADMIN',
  full: 'ERR_ACCESS_LIST_FULL'
} as const

export type AclOutcome =
  | { readonly ok: true, readonly result: AccessChange }
  | { readonly ok: false, readonly code: string, readonly message: string }

/**
 * Applies one ACL command to `list` (undefined: access control is off in this group), the same
 * on every replica. The issuer is checked before the body is looked at, so a non-administrator
 * learns nothing from the outcome but that it is not one.
 */
export function applyAclCommand (list: AccessList | undefined, command: Command): AclOutcome {
  const issuer = aclIssuer(command.client)
  if (issuer === undefined) return { ok: false, code: ACL_CODES.invalid, message: 'the ACL command names no valid issuer' }
  if (list === undefined) return { ok: false, code: ACL_CODES.off, message: 'access control is off in this group (no genesis administrators)' }
  if (!list.isAdmin(issuer)) return { ok: false, code: ACL_CODES.notAdmin, message: `${issuer} is not an administrator of the access list` }
  const op = decodeAclOp(command.data)
  if (op === undefined) return { ok: false, code: ACL_CODES.invalid, message: 'malformed ACL command' }
  const r = op.op === 'allow' ? list.allow(op.peer, op.admin === undefined ? {} : { admin: op.admin }) : list.revoke(op.peer)
  if (!r.ok) return { ok: false, code: ACL_CODES[r.reason], message: r.message }
  return { ok: true, result: r.change }
}

function assertPeer (peer: string): void {
  if (!isAccessPeerId(peer)) throw new InvalidArgumentError(`invalid peer id ${JSON.stringify(String(peer).slice(0, 64))}`)
}

/** Code-unit order: what `Array.prototype.sort` does by default, the same on every platform. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
