/**
 * The cluster file: the bootstrap of a group, identical on every member (`vpeer cluster-init` writes
 * it). It names the first voters, the first administrators of the client allow-list, where each
 * member and spare listens, and the spare pool (this stand-in for spares found in the
 * DHT).
 *
 * ```json
 * { "version": 1, "group": "demo",
 *   "voters": ["12D3KooW…", …], "spares": ["12D3KooW…"], "admins": ["12D3KooW…"],
 *   "addresses": { "12D3KooW…": ["/ip4/127.0.0.1/tcp/47001"], … } }
 * ```
 */
import { readFile } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Configuration, NodeId } from '../paxos/index.js'
import { parseMultiaddr } from '../alm/node-factory.js'
import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export interface ClusterSpec {
  readonly version: 1
  /** The group's name (part of its genesis; the DHT group key of the next issue derives from it). */
  readonly group: string
  readonly voters: readonly NodeId[]
  readonly spares: readonly NodeId[]
  /** Genesis administrators of the client allow-list (PeerId strings). */
  readonly admins: readonly string[]
  /** Listen addresses of voters and spares (multiaddrs without /p2p/). */
  readonly addresses: Readonly<Record<NodeId, readonly string[]>>
}

export class ClusterSpecError extends CodedError {
  static override name = 'ClusterSpecError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_CLUSTER_SPEC', options)
  }
}

const MEMBERS_MAX = 1024

function peerIds (raw: unknown, field: string, allowEmpty: boolean): NodeId[] {
  if (!Array.isArray(raw)) throw new ClusterSpecError(`${field} must be an array of peer ids`)
  if (raw.length > MEMBERS_MAX || (!allowEmpty && raw.length === 0)) throw new ClusterSpecError(`${field} must have ${allowEmpty ? '0' : '1'} to ${MEMBERS_MAX} entries`)
  const out: NodeId[] = []
  for (const id of raw) {
    if (typeof id !== 'string') throw new ClusterSpecError(`${field} holds a ${typeof id}, not a peer id`)
    try {
      peerIdFromString(id)
    } catch (error) {
      throw new ClusterSpecError(`${field}: ${JSON.stringify(id.slice(0, 80))} is not a peer id`, { cause: error })
    }
    if (out.includes(id)) throw new ClusterSpecError(`${field} names ${id} twice`)
    out.push(id)
  }
  return out
}

/** Checks a parsed cluster file. @throws ClusterSpecError naming the first problem */
export function validateClusterSpec (raw: unknown): ClusterSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ClusterSpecError('the cluster file must hold a JSON object')
  const o = raw as Record<string, unknown>
  if (o.version !== 1) throw new ClusterSpecError(`unknown cluster file version ${JSON.stringify(o.version)}`)
  if (typeof o.group !== 'string' || !/^[\w.-]{1,64}$/.test(o.group)) throw new ClusterSpecError('group must be 1-64 characters of [A-Za-z0-9_.-]')
  const voters = peerIds(o.voters, 'voters', false)
  const spares = peerIds(o.spares ?? [], 'spares', true)
  const admins = peerIds(o.admins ?? [], 'admins', true)
  for (const s of spares) if (voters.includes(s)) throw new ClusterSpecError(`${s} is both a voter and a spare`)
  if (typeof o.addresses !== 'object' || o.addresses === null || Array.isArray(o.addresses)) throw new ClusterSpecError('addresses must be an object of peer id → multiaddr list')
  const addresses: Record<NodeId, string[]> = {}
  for (const [id, list] of Object.entries(o.addresses as Record<string, unknown>)) {
    if (!voters.includes(id) && !spares.includes(id)) throw new ClusterSpecError(`addresses names ${id.slice(0, 80)}, which is neither a voter nor a spare`)
    if (!Array.isArray(list) || list.length === 0 || list.length > 16) throw new ClusterSpecError(`addresses of ${id} must be 1-16 multiaddrs`)
    addresses[id] = list.map(a => {
      if (typeof a !== 'string') throw new ClusterSpecError(`addresses of ${id} holds a ${typeof a}`)
      try {
        const ma = parseMultiaddr(a)
        if (ma.getComponents().some(c => c.name === 'p2p')) throw new Error('must not contain /p2p/ (the key names the peer)')
        return ma.toString()
      } catch (error) {
        throw new ClusterSpecError(`addresses of ${id}: ${JSON.stringify(a.slice(0, 120))}: ${(error as Error).message}`, { cause: error })
      }
    })
  }
  for (const id of [...voters, ...spares]) if (addresses[id] === undefined) throw new ClusterSpecError(`no address for ${id}`)
  return { version: 1, group: o.group, voters, spares, admins, addresses }
}

export async function readClusterSpec (path: string): Promise<ClusterSpec> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new ClusterSpecError(`cannot read ${path}: ${(error as Error).message}`, { cause: error })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new ClusterSpecError(`${path} is not JSON: ${(error as Error).message}`, { cause: error })
  }
  try {
    return validateClusterSpec(raw)
  } catch (error) {
    if (error instanceof ClusterSpecError) throw new ClusterSpecError(`${path}: ${error.message}`, { cause: error })
    throw error
  }
}

/** The bootstrap configuration every member starts from. */
export function bootstrapConfiguration (spec: ClusterSpec): Configuration {
  return { epoch: 0, voters: [...spec.voters], learners: [] }
}

/** Dialable addresses of `id` (with /p2p/), from the cluster file. */
export function dialAddresses (spec: ClusterSpec, id: NodeId): string[] {
  return (spec.addresses[id] ?? []).map(a => `${a}/p2p/${id}`)
}
