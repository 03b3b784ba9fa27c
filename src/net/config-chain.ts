/**
 * Verified membership (issue 10): a peer that merely provides the group key in the DHT is not a
 * member. Every configuration the group installs is signed by a majority of the voters of the
 * configuration it replaces (the runtime collects the signatures, `src/vpeer/certificates.ts`),
 * with the members' libp2p identity keys. A client that knows only the group key — the hash of
 * the genesis — asks any provider for the chain (a `chain` request of the client protocol),
 * checks it here, and talks only to the voters it verified:
 *
 * - the genesis the chain names hashes to the group key (`group-key.ts`), and the root
 *   configuration is the genesis voters at epoch 0;
 * - each link is the next epoch and is signed by a majority of the previous configuration's
 *   voters, every signature valid (one bad signature refuses the chain: an honest member never
 *   serves one);
 * - with `trusted` (a configuration this caller verified before), a chain that ends below it is
 *   refused as a replay (`ERR_CHAIN_STALE`), and one that disagrees with it as a fork.
 *
 * What it cannot tell: whether a valid chain is the newest (an old member can replay an old,
 * validly signed chain to a client that trusts nothing newer). Clients ask several providers and
 * keep the highest verified epoch; `trusted` then refuses anything older.
 *
 * Every size bound (links, members, signature length, strings) is checked before any hashing or
 * signature verification, so a hostile provider cannot make a client do unbounded crypto.
 *
 * Wire form of a chain page (`encodeConfigChain`): version byte 1; genesis: group (string),
 * voters (list), admins (list); base configuration: epoch (varint), voters, learners; links
 * (count), each: epoch, voters, learners, signatures (count), each: signer (string), signature
 * (bytes); then a `more` flag byte (further links exist beyond this page). Strict decoding:
 * canonical varints, bounded lengths and counts, valid UTF-8, no trailing bytes.
 */
import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Configuration, NodeId } from '../paxos/index.js'
import type { AbortOptions } from '../contracts/index.js'
import { certificateBytes, majorityOf } from '../vpeer/index.js'
import type { CertificateChain, CertificateSigner } from '../vpeer/index.js'
import { ByteReader } from '../util/byte-reader.js'
import { ByteWriter } from '../util/byte-writer.js'
import { CodedError, throwIfAborted } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'
import { genesisBytes } from './group-key.js'
import type { ClusterSpec } from './cluster-spec.js'

/** Hard bounds of a chain page, checked before any crypto (decoding and verifying both). */
export const CHAIN_LIMITS = Object.freeze({
  /** Links in one page (the client pages through longer chains). */
  linksMax: 256,
  /** Voters plus learners of one configuration; voters and admins of the genesis. */
  membersMax: 256,
  /** UTF-8 bytes of a peer id. */
  idBytesMax: 128,
  /** UTF-8 bytes of the group name. */
  groupBytesMax: 64,
  /** Bytes of one signature (Ed25519: 64). */
  signatureBytesMax: 128,
  /** Bytes of an encoded page: under the client protocol's payload limit. */
  pageBytesMax: 1 << 20
})

/** What the cluster file says about the group's origin: the group key is the hash of these. */
export type ChainGenesis = Pick<ClusterSpec, 'group' | 'voters' | 'admins'>

/** A page of the chain as it travels: the genesis, a base configuration and the links above it. */
export interface ConfigChainPage extends CertificateChain {
  readonly genesis: ChainGenesis
  /** The server holds further complete links above the last of this page. */
  readonly more: boolean
}

/** A configuration this client verified from the genesis of `groupKey`. */
export interface VerifiedConfiguration extends Configuration {
  /** The group key (string form) it was verified against. */
  readonly groupKey: string
}

export type ConfigChainErrorCode =
  | 'ERR_CHAIN_GENESIS' // the genesis does not hash to the group key, or the root is not its voters
  | 'ERR_CHAIN_SIGNATURE' // a signature is invalid, by a non-voter, or repeated
  | 'ERR_CHAIN_QUORUM' // a link lacks a majority of the previous voters
  | 'ERR_CHAIN_BROKEN' // epochs do not link up, or the chain starts nowhere the caller trusts, or forks from it
  | 'ERR_CHAIN_STALE' // the chain ends below what the caller already trusts (a replay)
  | 'ERR_CHAIN_LIMIT' // a size bound was exceeded
  | 'ERR_CHAIN_MALFORMED' // the bytes are not a chain page
  | 'ERR_CHAIN_REDIRECT' // a member named a leader that is not a verified voter

export class ConfigChainError extends CodedError {
  static override name = 'ConfigChainError'
  declare readonly code: ConfigChainErrorCode
  constructor (code: ConfigChainErrorCode, message: string, options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

// ---------------------------------------------------------------------------------------------
// Signing and verifying with libp2p identity keys

/** Public keys of peer ids seen, so a chain of many links parses each signer's id once. */
const publicKeys = new Map<string, { verify: (data: Uint8Array, sig: Uint8Array) => boolean | Promise<boolean> } | null>()
const PUBLIC_KEYS_CACHED = 4096

/**
 * Whether `signature` is `signer`'s signature of `bytes`, `signer` being a libp2p PeerId string
 * that embeds its public key (Ed25519: verification is synchronous). Anything else — another key
 * type, an id that does not parse, a verifier that would answer asynchronously — is false: the
 * runtime needs a synchronous, deterministic answer on every replica. Never throws.
 */
export function verifyPeerSignature (signer: NodeId, bytes: Uint8Array, signature: Uint8Array): boolean {
  let key = publicKeys.get(signer)
  if (key === undefined) {
    try {
      const id = peerIdFromString(signer)
      key = id.type === 'Ed25519' && id.publicKey !== undefined ? id.publicKey : null
    } catch {
      key = null
    }
    if (publicKeys.size >= PUBLIC_KEYS_CACHED) publicKeys.clear()
    publicKeys.set(signer, key)
  }
  if (key === null) return false
  try {
    const ok = key.verify(bytes, signature)
    return ok === true
  } catch {
    return false
  }
}

/** The runtime's signer for a member: its libp2p identity key, in the group `context` (the group key's bytes). */
export function libp2pCertificateSigner (privateKey: PrivateKey, context: Uint8Array): CertificateSigner {
  return {
    context: context.slice(),
    sign: async bytes => await privateKey.sign(bytes),
    verify: verifyPeerSignature
  }
}

// ---------------------------------------------------------------------------------------------
// The pure verifier

export interface VerifyChainOptions {
  /** A configuration verified before: older chains are refused, and a chain may start there. */
  readonly trusted?: VerifiedConfiguration
  /** Signature check (default `verifyPeerSignature`, libp2p Ed25519 ids). */
  readonly verify?: (signer: NodeId, bytes: Uint8Array, signature: Uint8Array) => boolean
}

/**
 * Verifies `chain` against `groupKey` (see the module comment) and returns the configuration it
 * ends at. Pure and synchronous.
 * @throws ConfigChainError with the code of the first problem found
 */
export function verifyConfigChain (groupKey: CID, chain: CertificateChain & { readonly genesis: ChainGenesis }, options: VerifyChainOptions = {}): VerifiedConfiguration {
  checkLimits(chain)
  const verify = options.verify ?? verifyPeerSignature
  const key = groupKey.toString()
  const trusted = options.trusted
  if (trusted !== undefined && trusted.groupKey !== key) throw new ConfigChainError('ERR_CHAIN_GENESIS', `the trusted configuration belongs to group ${trusted.groupKey}, not ${key}`)
  if (!genesisMatches(groupKey, chain.genesis)) throw new ConfigChainError('ERR_CHAIN_GENESIS', `the genesis of group ${JSON.stringify(chain.genesis.group)} does not hash to the group key ${key}`)
  const base = chain.base
  if (base.epoch === 0) {
    if (!sameList(base.voters, chain.genesis.voters) || base.learners.length !== 0) {
      throw new ConfigChainError('ERR_CHAIN_GENESIS', 'the root configuration is not the genesis voters')
    }
  } else if (trusted === undefined || !sameConfiguration(base, trusted)) {
    throw new ConfigChainError('ERR_CHAIN_BROKEN', `the chain starts at epoch ${base.epoch}, which is neither the genesis nor the configuration trusted here${trusted === undefined ? '' : ` (epoch ${trusted.epoch})`}`)
  }
  let previous: Configuration = base
  for (const link of chain.links) {
    const next = link.configuration
    if (next.epoch !== previous.epoch + 1) throw new ConfigChainError('ERR_CHAIN_BROKEN', `epoch ${next.epoch} does not follow epoch ${previous.epoch}`)
    checkConfiguration(next)
    const bytes = certificateBytes(groupKey.bytes, previous, next)
    const seen = new Set<NodeId>()
    for (const { signer, signature } of link.signatures) {
      if (seen.has(signer)) throw new ConfigChainError('ERR_CHAIN_SIGNATURE', `epoch ${next.epoch}: ${signer.slice(0, 64)} signed twice`)
      seen.add(signer)
      if (!previous.voters.includes(signer)) throw new ConfigChainError('ERR_CHAIN_SIGNATURE', `epoch ${next.epoch}: ${signer.slice(0, 64)} was not a voter of epoch ${previous.epoch}`)
      if (!verify(signer, bytes, signature)) throw new ConfigChainError('ERR_CHAIN_SIGNATURE', `epoch ${next.epoch}: the signature of ${signer.slice(0, 64)} does not verify`)
    }
    const need = majorityOf(previous)
    if (seen.size < need) throw new ConfigChainError('ERR_CHAIN_QUORUM', `epoch ${next.epoch}: ${seen.size} of the ${previous.voters.length} voters of epoch ${previous.epoch} signed, ${need} needed`)
    if (trusted !== undefined && next.epoch === trusted.epoch && !sameConfiguration(next, trusted)) {
      throw new ConfigChainError('ERR_CHAIN_BROKEN', `the chain's epoch ${next.epoch} differs from the configuration trusted here`)
    }
    previous = next
  }
  if (trusted !== undefined && previous.epoch < trusted.epoch) {
    throw new ConfigChainError('ERR_CHAIN_STALE', `the chain ends at epoch ${previous.epoch}, older than epoch ${trusted.epoch} trusted here`)
  }
  if (trusted !== undefined && previous.epoch === trusted.epoch && !sameConfiguration(previous, trusted)) {
    throw new ConfigChainError('ERR_CHAIN_BROKEN', `the chain's epoch ${previous.epoch} differs from the configuration trusted here`)
  }
  return { groupKey: key, epoch: previous.epoch, voters: [...previous.voters], learners: [...previous.learners] }
}

/** The verdict on a member's redirect (or info) against what this client verified. */
export type RedirectVerdict =
  /** The named leader is a verified voter: dial it. */
  | { readonly kind: 'trusted' }
  /** The member claims a newer epoch: fetch the chain from the verified epoch, verify, judge again. */
  | { readonly kind: 'refresh', readonly fromEpoch: number }
  /** The leader is no verified voter and no newer configuration is claimed: refuse it. */
  | { readonly kind: 'forged', readonly error: ConfigChainError }

/**
 * Judges a redirect's leader by the verified configuration, never by the redirect's own member
 * lists (which a forged member writes as it likes).
 */
export function judgeRedirect (verified: VerifiedConfiguration, view: { readonly leader: string | undefined, readonly epoch: number }): RedirectVerdict {
  if (view.leader === undefined || verified.voters.includes(view.leader)) return { kind: 'trusted' }
  if (view.epoch > verified.epoch) return { kind: 'refresh', fromEpoch: verified.epoch }
  return { kind: 'forged', error: new ConfigChainError('ERR_CHAIN_REDIRECT', `${view.leader.slice(0, 64)} is not a voter of the verified configuration (epoch ${verified.epoch})`) }
}

export interface FetchVerifiedOptions extends AbortOptions {
  readonly groupKey: CID
  /**
   * Asks one provider for the chain page starting at `fromEpoch` and resolves with the encoded
   * page (the `ok` result of a `chain` request of the client protocol).
   */
  readonly request: (fromEpoch: number, options: AbortOptions) => Promise<Uint8Array>
  /** Start from this verified configuration instead of the genesis; older chains are refused. */
  readonly trusted?: VerifiedConfiguration
  /** Pages fetched at most (default 64: 16,384 links). */
  readonly maxPages?: number
  readonly verify?: VerifyChainOptions['verify']
}

/**
 * Pages through one provider's chain, verifying each page before asking for the next (from the
 * configuration the previous one verified), and returns the newest configuration verified.
 * @throws ConfigChainError (a page that does not verify or decode), or whatever `request` throws
 */
export async function fetchVerifiedConfiguration (options: FetchVerifiedOptions): Promise<VerifiedConfiguration> {
  const maxPages = options.maxPages ?? 64
  let trusted = options.trusted
  for (let page = 0; page < maxPages; page++) {
    throwIfAborted(options.signal)
    const bytes = await options.request(trusted?.epoch ?? 0, options.signal === undefined ? {} : { signal: options.signal })
    const chain = decodeConfigChain(bytes)
    const verified = verifyConfigChain(options.groupKey, chain, {
      ...(trusted !== undefined ? { trusted } : {}),
      ...(options.verify !== undefined ? { verify: options.verify } : {})
    })
    if (!chain.more || chain.links.length === 0) return verified
    trusted = verified
  }
  throw new ConfigChainError('ERR_CHAIN_LIMIT', `the chain is longer than ${maxPages} pages`)
}

// ---------------------------------------------------------------------------------------------
// Encoding

const VERSION = 1
const utf8 = new TextEncoder()

class Writer extends ByteWriter {
  fail (reason: string, offset: number): never { throw new ConfigChainError('ERR_CHAIN_LIMIT', `${reason} (byte ${offset})`) }
  list (items: readonly string[]): this {
    this.varint(items.length)
    for (const item of items) this.string(item)
    return this
  }

  configuration (c: Configuration): this { return this.varint(c.epoch).list(c.voters).list(c.learners) }
}

/** @throws ConfigChainError (`ERR_CHAIN_LIMIT`) if the page exceeds a bound of `CHAIN_LIMITS` */
export function encodeConfigChain (page: ConfigChainPage): Uint8Array {
  checkLimits(page)
  const w = new Writer().byte(VERSION).string(page.genesis.group).list(page.genesis.voters).list(page.genesis.admins).configuration(page.base)
  w.varint(page.links.length)
  for (const link of page.links) {
    w.configuration(link.configuration).varint(link.signatures.length)
    for (const s of link.signatures) w.string(s.signer).bytes(s.signature)
  }
  w.byte(page.more ? 1 : 0)
  if (w.size > CHAIN_LIMITS.pageBytesMax) throw new ConfigChainError('ERR_CHAIN_LIMIT', `a chain page of ${w.size} bytes exceeds ${CHAIN_LIMITS.pageBytesMax}`)
  return w.finish()
}

class Reader extends ByteReader {
  fail (reason: string, cause?: unknown): never {
    throw new ConfigChainError('ERR_CHAIN_MALFORMED', `chain page refused at byte ${this.pos}: ${reason}`, cause === undefined ? undefined : { cause })
  }

  string (field: string, max: number): string { return this.utf8String(field, max) }

  count (field: string, max: number): number {
    const n = this.varint(`${field} count`)
    // Every item takes at least one byte: a count beyond the bytes left is refused before allocating.
    if (n > max || n > this.bytes.byteLength - this.pos) this.fail(`${field} count ${n} exceeds the limit of ${max} or the page`)
    return n
  }

  list (field: string, max: number): string[] {
    const n = this.count(field, max)
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push(this.string(field, CHAIN_LIMITS.idBytesMax))
    return out
  }

  configuration (field: string): Configuration {
    const epoch = this.varint(`${field} epoch`)
    const voters = this.list(`${field} voters`, CHAIN_LIMITS.membersMax)
    const learners = this.list(`${field} learners`, CHAIN_LIMITS.membersMax - voters.length)
    return { epoch, voters, learners }
  }
}

/** @throws ConfigChainError (`ERR_CHAIN_MALFORMED`, `ERR_CHAIN_LIMIT`) */
export function decodeConfigChain (bytes: Uint8Array): ConfigChainPage {
  const r = new Reader(bytes)
  if (bytes.byteLength > CHAIN_LIMITS.pageBytesMax) throw new ConfigChainError('ERR_CHAIN_LIMIT', `a chain page of ${bytes.byteLength} bytes exceeds ${CHAIN_LIMITS.pageBytesMax}`)
  const version = r.byte('version')
  if (version !== VERSION) r.fail(`unknown chain page version ${version}`)
  const group = r.string('group', CHAIN_LIMITS.groupBytesMax)
  const voters = r.list('genesis voters', CHAIN_LIMITS.membersMax)
  const admins = r.list('genesis admins', CHAIN_LIMITS.membersMax)
  const base = r.configuration('base')
  const n = r.count('links', CHAIN_LIMITS.linksMax)
  const links: Array<CertificateChain['links'][number]> = []
  for (let i = 0; i < n; i++) {
    const configuration = r.configuration('link')
    const m = r.count('signatures', CHAIN_LIMITS.membersMax)
    const signatures: Array<{ signer: NodeId, signature: Uint8Array }> = []
    for (let j = 0; j < m; j++) {
      const signer = r.string('signer', CHAIN_LIMITS.idBytesMax)
      const signature = r.take('signature', r.length('signature', CHAIN_LIMITS.signatureBytesMax)).slice()
      signatures.push({ signer, signature })
    }
    links.push({ configuration, signatures })
  }
  const more = r.byte('more')
  if (more > 1) r.fail(`more must be 0 or 1, got ${more}`)
  r.end()
  return { genesis: { group, voters, admins }, base, links, more: more === 1 }
}

// ---------------------------------------------------------------------------------------------

/** The bounds of `CHAIN_LIMITS`, on a chain built in memory as much as on a decoded one. */
function checkLimits (chain: CertificateChain & { readonly genesis: ChainGenesis }): void {
  const fail = (what: string): never => { throw new ConfigChainError('ERR_CHAIN_LIMIT', what) }
  const ids = (list: readonly string[], what: string, max: number): void => {
    if (!Array.isArray(list) || list.length > max) fail(`${what}: more than ${max} entries`)
    for (const id of list) if (typeof id !== 'string' || utf8.encode(id).byteLength > CHAIN_LIMITS.idBytesMax) fail(`${what}: an id over ${CHAIN_LIMITS.idBytesMax} bytes`)
  }
  const config = (c: Configuration, what: string): void => {
    if (!Number.isSafeInteger(c.epoch) || c.epoch < 0) fail(`${what}: epoch ${String(c.epoch)}`)
    ids(c.voters, `${what} voters`, CHAIN_LIMITS.membersMax)
    ids(c.learners, `${what} learners`, CHAIN_LIMITS.membersMax - c.voters.length)
  }
  if (typeof chain.genesis.group !== 'string' || utf8.encode(chain.genesis.group).byteLength > CHAIN_LIMITS.groupBytesMax) fail('the group name is too long')
  ids(chain.genesis.voters, 'genesis voters', CHAIN_LIMITS.membersMax)
  ids(chain.genesis.admins, 'genesis admins', CHAIN_LIMITS.membersMax)
  config(chain.base, 'base')
  if (chain.links.length > CHAIN_LIMITS.linksMax) fail(`${chain.links.length} links exceed ${CHAIN_LIMITS.linksMax}`)
  for (const link of chain.links) {
    config(link.configuration, `epoch ${link.configuration.epoch}`)
    if (link.signatures.length > CHAIN_LIMITS.membersMax) fail(`epoch ${link.configuration.epoch}: ${link.signatures.length} signatures`)
    for (const s of link.signatures) {
      if (typeof s.signer !== 'string' || utf8.encode(s.signer).byteLength > CHAIN_LIMITS.idBytesMax) fail(`epoch ${link.configuration.epoch}: a signer id over ${CHAIN_LIMITS.idBytesMax} bytes`)
      if (!(s.signature instanceof Uint8Array) || s.signature.byteLength > CHAIN_LIMITS.signatureBytesMax) fail(`epoch ${link.configuration.epoch}: a signature over ${CHAIN_LIMITS.signatureBytesMax} bytes`)
    }
  }
}

function checkConfiguration (c: Configuration): void {
  const all = [...c.voters, ...c.learners]
  if (c.voters.length === 0 || new Set(all).size !== all.length) throw new ConfigChainError('ERR_CHAIN_BROKEN', `epoch ${c.epoch} is not a valid configuration (no voters, or a member twice)`)
}

/** Whether `genesis` hashes to `groupKey` (a CIDv1, raw codec, sha2-256: what `groupKey` makes). */
function genesisMatches (groupKey: CID, genesis: ChainGenesis): boolean {
  if (groupKey.version !== 1 || groupKey.code !== raw.code || groupKey.multihash.code !== sha256.code) return false
  const digest = createHash('sha256').update(genesisBytes(genesis)).digest()
  return Buffer.from(groupKey.multihash.digest).equals(digest)
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function sameConfiguration (a: Configuration, b: Configuration): boolean {
  return a.epoch === b.epoch && sameList(a.voters, b.voters) && sameList(a.learners, b.learners)
}
