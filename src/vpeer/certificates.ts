/**
 * Configuration certificates (issue 10, verified membership): every configuration the log
 * installs is signed by a majority of the voters of the configuration it replaces, so that a
 * newcomer that knows only the group's genesis can verify, link by link, which peers are the
 * group's voters today, and a peer that merely claims membership cannot.
 *
 * How signatures are collected. A configuration is decided by the core when its slot commits;
 * the runtime records it here at apply, on every replica (`record`). Every member that was a
 * voter of the replaced configuration then signs the canonical bytes of (context, replaced
 * configuration, new configuration) (`certificateBytes`; the context is the group key, so a
 * signature cannot be replayed into another group) and submits the signature as a command in
 * the runtime's reserved namespace: client `'\u0000cert/' + signer + '/' + epoch`, seq = epoch,
 * data = the raw signature. One session per (signer, epoch), not one per signer: a signer's
 * session that idled past the session TTL would otherwise be tombstoned, and its signature of
 * the next change refused as expired. Retries of the same signature dedupe in the session table.
 * On apply every replica checks, against the table as it is at that slot: the epoch is a
 * recorded configuration, the signer was a voter of the configuration it replaced, the signature
 * verifies, and the signer has not signed it yet; otherwise the command is refused with a code
 * (never thrown) and changes nothing. The table is therefore replicated state like the access
 * list: it travels in the runtime snapshot blob (version 4), so a restart or a snapshot transfer
 * restores it.
 *
 * Signing follows the commit instead of preceding it: a voter signs only what its own log
 * applied, so two different configurations of the same epoch can never both be signed by a
 * majority (majorities of one configuration intersect, and honest voters apply one history).
 * The cost is a window: if a majority of the replaced voters die between the commit and their
 * signatures reaching the log, that link stays incomplete forever and the chain cannot be
 * verified past it (members keep working; only outside verification stops there). Signing at
 * accept time in the core would close it.
 *
 * Growth. Every configuration is kept (a newcomer verifies from the genesis): about 0.5 KB per
 * change with five voters and Ed25519 signatures. A replacement is two changes (add a learner,
 * swap it in), so one replacement a day adds about 365 KB a year to every snapshot. The table is
 * bounded at `MAX_CERTIFIED_LINKS` links (a few MB): past it the oldest links are dropped and the
 * base moves up, so a client that knows only the genesis can no longer verify (it is refused as
 * a broken chain), while one that trusts a configuration within the kept range still can.
 */
import type { Command, Configuration, NodeId } from '../paxos/index.js'
import { CorruptSnapshotError } from '../migration/errors.js'
import { mark } from '../util/marks.js'

/** Client namespace of certificate commands: `CERT_CLIENT_PREFIX + signer + '/' + epoch`. */
export const CERT_CLIENT_PREFIX = '\u0000cert/'
/** Links (configurations above the base) kept in the table; see the module comment. */
export const MAX_CERTIFIED_LINKS = 8192
/** Bytes of one signature (Ed25519: 64; the bound leaves room for other schemes). */
export const MAX_SIGNATURE_BYTES = 512
/** Voters plus learners of a configuration the table accepts from a snapshot. */
export const MAX_CERTIFIED_MEMBERS = 1024
/** Characters of a node id in the table (libp2p PeerId strings are 46 to 59). */
const MAX_ID_CHARS = 1024
/** Domain tag of the signed bytes; a new layout gets a new tag. */
export const CERTIFICATE_DOMAIN = 'vpeer-config-cert/1'

/**
 * What the runtime needs to take part: the group's context (the group key's bytes), this
 * member's signing key, and signature verification for any member's id. `verify` must be
 * deterministic and synchronous (it runs at apply, on every replica) and must not throw.
 */
export interface CertificateSigner {
  readonly context: Uint8Array
  sign (bytes: Uint8Array): Promise<Uint8Array> | Uint8Array
  verify (signer: NodeId, bytes: Uint8Array, signature: Uint8Array): boolean
}

/** One configuration of the chain and the signatures of its replaced configuration's voters. */
export interface CertifiedLink {
  readonly configuration: Configuration
  /** By signer id, ascending. */
  readonly signatures: ReadonlyArray<{ readonly signer: NodeId, readonly signature: Uint8Array }>
}

/** A verifiable piece of the chain: a base configuration and the complete links above it, in order. */
export interface CertificateChain {
  readonly base: Configuration
  readonly links: readonly CertifiedLink[]
}

/** The table as it travels in a snapshot: the base and each link with its signatures (base64), all sorted. */
export interface CertificateState {
  readonly base: ConfigTuple
  readonly links: Array<[...ConfigTuple, Array<[NodeId, string]>]>
}
/** A configuration in a snapshot: [epoch, voters, learners]. */
export type ConfigTuple = [number, NodeId[], NodeId[]]

/**
 * The canonical bytes a voter signs for the change `previous` → `next` in the group `context`.
 * JSON of arrays of strings and integers is deterministic; member lists keep the order the core
 * gave them (both sides see the same configuration objects).
 */
export function certificateBytes (context: Uint8Array, previous: Configuration, next: Configuration): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([CERTIFICATE_DOMAIN, Buffer.from(context).toString('hex'), tuple(previous), tuple(next)]))
}

/** Signatures a link needs: a majority of the replaced configuration's voters. */
export function majorityOf (configuration: Configuration): number {
  return Math.floor(configuration.voters.length / 2) + 1
}

export function isCertCommand (c: Command): boolean {
  return c.client.startsWith(CERT_CLIENT_PREFIX)
}

/** The certificate command carrying `signer`'s signature of the configuration of `epoch`. */
export function certCommand (signer: NodeId, epoch: number, signature: Uint8Array): Command {
  return { client: `${CERT_CLIENT_PREFIX}${signer}/${epoch}`, seq: epoch, data: signature }
}

/** Signer and epoch named by a certificate command, or undefined if it names none validly. */
export function parseCertCommand (c: Command): { signer: NodeId, epoch: number } | undefined {
  if (!isCertCommand(c)) return undefined
  const rest = c.client.slice(CERT_CLIENT_PREFIX.length)
  const slash = rest.lastIndexOf('/')
  if (slash <= 0) return undefined
  const signer = rest.slice(0, slash)
  const epochText = rest.slice(slash + 1)
  if (!/^(0|[1-9][0-9]{0,15})$/.test(epochText)) return undefined
  const epoch = Number(epochText)
  if (!Number.isSafeInteger(epoch) || epoch !== c.seq || signer.length > MAX_ID_CHARS) return undefined
  return { signer, epoch }
}

export type CertificateRefusal = 'malformed' | 'off' | 'unknown-epoch' | 'not-a-voter' | 'bad-signature'

/** What applying a certificate command did. */
export type CertificateApply =
  | { readonly ok: true, readonly added: boolean, readonly completed: boolean, readonly epoch: number }
  | { readonly ok: false, readonly reason: CertificateRefusal, readonly message: string }

interface Link {
  readonly configuration: Configuration
  readonly signatures: Map<NodeId, Uint8Array>
}

export class CertificateTable {
  private base: Configuration
  private links: Link[] = []
  private readonly root: Configuration
  private readonly signer: CertificateSigner

  /** @param root - the bootstrap configuration (every member starts from the same one) */
  constructor (root: Configuration, signer: CertificateSigner) {
    this.root = copy(root)
    this.base = this.root
    this.signer = signer
  }

  /** The newest configuration recorded. */
  get newest (): Configuration {
    return this.links.at(-1)?.configuration ?? this.base
  }

  get baseEpoch (): number {
    return this.base.epoch
  }

  /**
   * A configuration was installed by the log (at apply). The next epoch is appended; one already
   * known is ignored. A gap (the table was restored from a snapshot that had none, then the log
   * moved on) cannot be linked: the table restarts from this configuration, unverifiable from
   * the genesis, which a verifier refuses as a broken chain.
   */
  record (configuration: Configuration): void {
    const next = this.newest.epoch + 1
    if (configuration.epoch < next) return
    if (configuration.epoch > next) {
      mark('vpeer: certificate table rebased over a gap')
      this.base = copy(configuration)
      this.links = []
      return
    }
    this.links.push({ configuration: copy(configuration), signatures: new Map() })
    if (this.links.length > MAX_CERTIFIED_LINKS) {
      mark('vpeer: certificate table trimmed')
      this.base = (this.links.shift() as Link).configuration
    }
  }

  /** The configuration `epoch` replaced and the bytes its voters sign, if the table holds that link. */
  toSign (epoch: number): { previous: Configuration, next: Configuration, bytes: Uint8Array } | undefined {
    const i = epoch - this.base.epoch - 1
    const link = this.links[i]
    if (link === undefined) return undefined
    const previous = i === 0 ? this.base : (this.links[i - 1] as Link).configuration
    return { previous, next: link.configuration, bytes: certificateBytes(this.signer.context, previous, link.configuration) }
  }

  /** Applies `signer`'s signature of the configuration of `epoch` (a certificate command), deterministically. */
  add (signer: NodeId, epoch: number, signature: Uint8Array): CertificateApply {
    const target = this.toSign(epoch)
    if (target === undefined) return { ok: false, reason: 'unknown-epoch', message: `no configuration of epoch ${epoch} above the table's base ${this.base.epoch}` }
    if (!target.previous.voters.includes(signer)) return { ok: false, reason: 'not-a-voter', message: `${signer.slice(0, 64)} was not a voter of epoch ${target.previous.epoch}` }
    const link = this.links[epoch - this.base.epoch - 1] as Link
    const need = majorityOf(target.previous)
    if (link.signatures.has(signer)) return { ok: true, added: false, completed: false, epoch }
    if (signature.byteLength === 0 || signature.byteLength > MAX_SIGNATURE_BYTES || !safeVerify(this.signer, signer, target.bytes, signature)) {
      return { ok: false, reason: 'bad-signature', message: `the signature of ${signer.slice(0, 64)} for epoch ${epoch} does not verify` }
    }
    link.signatures.set(signer, signature.slice())
    return { ok: true, added: true, completed: link.signatures.size === need, epoch }
  }

  isComplete (epoch: number): boolean {
    const target = this.toSign(epoch)
    if (target === undefined) return false
    return (this.links[epoch - this.base.epoch - 1] as Link).signatures.size >= majorityOf(target.previous)
  }

  hasSigned (signer: NodeId, epoch: number): boolean {
    return this.links[epoch - this.base.epoch - 1]?.signatures.has(signer) ?? false
  }

  /** Epochs `id` should sign: it was a voter of the replaced configuration, has not signed, the link is incomplete. */
  owedBy (id: NodeId): number[] {
    const out: number[] = []
    let previous = this.base
    for (const link of this.links) {
      const epoch = link.configuration.epoch
      if (previous.voters.includes(id) && !link.signatures.has(id) && link.signatures.size < majorityOf(previous)) out.push(epoch)
      previous = link.configuration
    }
    return out
  }

  /**
   * The complete links from `fromEpoch` on, in order, with the configuration they start from;
   * the chain stops before the first incomplete link. `fromEpoch` below the base starts at the
   * base; above the newest complete link, the chain has that configuration only if it is held
   * (no links), otherwise undefined.
   */
  chain (fromEpoch = this.base.epoch, maxLinks = Number.POSITIVE_INFINITY): CertificateChain | undefined {
    const start = Math.max(fromEpoch, this.base.epoch)
    const startIndex = start - this.base.epoch - 1
    if (startIndex >= this.links.length) return undefined
    const base = startIndex < 0 ? this.base : (this.links[startIndex] as Link).configuration
    const links: CertifiedLink[] = []
    let previous = base
    for (let i = startIndex + 1; i < this.links.length && links.length < maxLinks; i++) {
      const link = this.links[i] as Link
      if (link.signatures.size < majorityOf(previous)) break
      links.push({ configuration: copy(link.configuration), signatures: [...link.signatures].sort((a, b) => compare(a[0], b[0])).map(([signer, signature]) => ({ signer, signature: signature.slice() })) })
      previous = link.configuration
    }
    return { base: copy(base), links }
  }

  /** Plain data for snapshots: deterministic (sorted signers), so equal tables encode to equal JSON. */
  toJSON (): CertificateState {
    return {
      base: tuple(this.base),
      links: this.links.map(l => [...tuple(l.configuration), [...l.signatures].sort((a, b) => compare(a[0], b[0])).map(([s, sig]): [NodeId, string] => [s, Buffer.from(sig).toString('base64')])])
    }
  }

  /**
   * Replaces the table with a decoded snapshot state. Without one (an older snapshot, or a group
   * that ran without certificates), the table restarts from `fallback`, the newest configuration
   * the snapshot carries: unverifiable from the genesis, but the links recorded from then on are
   * signed as usual.
   */
  restore (state: CertificateState | undefined, fallback: Configuration): void {
    if (state === undefined) {
      this.base = fallback.epoch === this.root.epoch ? this.root : copy(fallback)
      this.links = []
      return
    }
    const checked = decodeCertificateState(state)
    this.base = fromTuple(checked.base)
    this.links = checked.links.map(([epoch, voters, learners, sigs]) => ({
      configuration: { epoch, voters, learners },
      signatures: new Map(sigs.map(([s, b64]) => [s, new Uint8Array(Buffer.from(b64, 'base64'))]))
    }))
  }
}

/**
 * Checks that `raw` (parsed JSON of unknown origin: a stored or received snapshot) is a table
 * `toJSON` could have produced: consecutive epochs above the base, valid member lists, at most
 * `MAX_CERTIFIED_LINKS` links, signers in ascending order among the replaced voters, signatures
 * of 1 to `MAX_SIGNATURE_BYTES` bytes. The signatures themselves were verified by the replicas
 * that applied them (the snapshot is covered by its manifest root, from a member).
 * @throws CorruptSnapshotError on anything else
 */
export function decodeCertificateState (raw: unknown): CertificateState {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CorruptSnapshotError('certificate table is not an object')
  const o = raw as Record<string, unknown>
  const base = configTuple(o.base)
  if (!Array.isArray(o.links) || o.links.length > MAX_CERTIFIED_LINKS) throw new CorruptSnapshotError('certificate table links are not a bounded array')
  const links: CertificateState['links'] = []
  let previous = base
  for (const l of o.links as unknown[]) {
    if (!Array.isArray(l) || l.length !== 4) throw new CorruptSnapshotError('malformed certificate link')
    const c = configTuple([l[0], l[1], l[2]])
    if (c[0] !== previous[0] + 1) throw new CorruptSnapshotError(`certificate link of epoch ${c[0]} does not follow epoch ${previous[0]}`)
    const sigs = l[3] as unknown
    if (!Array.isArray(sigs) || sigs.length > previous[1].length) throw new CorruptSnapshotError('malformed certificate signatures')
    let last: string | undefined
    const out: Array<[NodeId, string]> = []
    for (const s of sigs as unknown[]) {
      if (!Array.isArray(s) || s.length !== 2 || typeof s[0] !== 'string' || typeof s[1] !== 'string' || !previous[1].includes(s[0])) {
        throw new CorruptSnapshotError('malformed certificate signature')
      }
      if (last !== undefined && compare(last, s[0]) >= 0) throw new CorruptSnapshotError('certificate signers out of order')
      last = s[0]
      const bytes = Buffer.from(s[1], 'base64')
      if (bytes.byteLength === 0 || bytes.byteLength > MAX_SIGNATURE_BYTES || bytes.toString('base64') !== s[1]) throw new CorruptSnapshotError('malformed certificate signature bytes')
      out.push([s[0], s[1]])
    }
    links.push([...c, out])
    previous = c
  }
  return { base, links }
}

function configTuple (raw: unknown): ConfigTuple {
  if (!Array.isArray(raw) || raw.length !== 3) throw new CorruptSnapshotError('malformed configuration in certificate table')
  const [epoch, voters, learners] = raw as unknown[]
  const ids = (x: unknown): x is NodeId[] => Array.isArray(x) && x.every(i => typeof i === 'string' && i.length > 0 && i.length <= MAX_ID_CHARS)
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0 || !ids(voters) || !ids(learners) || voters.length === 0 ||
    voters.length + learners.length > MAX_CERTIFIED_MEMBERS || new Set([...voters, ...learners]).size !== voters.length + learners.length) {
    throw new CorruptSnapshotError('malformed configuration in certificate table')
  }
  return [epoch, [...voters], [...learners]]
}

function safeVerify (signer: CertificateSigner, id: NodeId, bytes: Uint8Array, signature: Uint8Array): boolean {
  try {
    return signer.verify(id, bytes, signature) === true
  } catch {
    return false
  }
}

function tuple (c: Configuration): ConfigTuple {
  return [c.epoch, [...c.voters], [...c.learners]]
}

function fromTuple (t: ConfigTuple): Configuration {
  return { epoch: t[0], voters: [...t[1]], learners: [...t[2]] }
}

function copy (c: Configuration): Configuration {
  return { epoch: c.epoch, voters: [...c.voters], learners: [...c.learners] }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
