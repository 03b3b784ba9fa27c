/**
 * `GroupSender`: one sender, many virtual peers, each addressed by its group key alone — the
 * shape of the original design, where a message to a VP is multicast to its group and then
 * ordered by Paxos. It keeps one `VirtualPeerClient` per group over one libp2p node (its own, or
 * one it is given, such as a member's), found through the DHT on first use and re-resolved when
 * the group's members change under it.
 */
import type { AbortOptions } from '../contracts/index.js'
import { InvalidArgumentError } from '../util/errors.js'
import type { Identity } from '../alm/identity.js'
import { generateIdentity } from '../alm/identity.js'
import { createVpeerNode, isLoopback, parseMultiaddr } from '../alm/node-factory.js'
import type { VpeerLibp2p } from '../alm/node-factory.js'
import { VirtualPeerClient } from './client.js'
import type { MulticastReport, VirtualPeerClientOptions } from './client.js'
import { parseGroupKey } from './group-key.js'
import type { CID } from 'multiformats/cid'

export interface GroupSenderOptions<C, R> extends Omit<VirtualPeerClientOptions<C, R, unknown, unknown>, 'members' | 'node' | 'payloads'> {
  /** Multiaddrs (with /p2p/) of any peers of the DHT the groups provide themselves in (may be empty with `node`). */
  readonly bootstrap: readonly string[]
  /** Speak through this node (never stopped here) instead of a private DHT client node. */
  readonly node?: VpeerLibp2p
}

export class GroupSender<C, R> {
  readonly id: string
  private readonly clients = new Map<string, Promise<VirtualPeerClient<C, R>>>()
  private closed = false

  private constructor (private readonly node: VpeerLibp2p, private readonly ownsNode: boolean, private readonly options: GroupSenderOptions<C, R>) {
    this.id = node.peerId.toString()
  }

  static async create<C, R> (options: GroupSenderOptions<C, R>): Promise<GroupSender<C, R>> {
    if (options.node !== undefined) return new GroupSender(options.node, false, options)
    if (options.bootstrap.length === 0) throw new InvalidArgumentError('a GroupSender needs at least one bootstrap address (or a node already in the DHT)')
    const identity: Identity = options.identity ?? await generateIdentity()
    const dial = options.bootstrap.every(a => isLoopback(parseMultiaddr(a))) ? 'loopback' : 'any'
    const node = await createVpeerNode({ privateKey: identity.privateKey, listen: [], dial, dht: 'client' })
    return new GroupSender(node, true, options)
  }

  /**
   * Delivers `command` to the group (every voter it can reach gets it; the log applies it once)
   * and resolves with the state machine's result. See `VirtualPeerClient.send`.
   */
  async send (group: CID | string, command: C, options: AbortOptions = {}): Promise<R> {
    return await (await this.client(group, options)).send(command, options)
  }

  /** Notifies every current member of the group, outside the log. See `VirtualPeerClient.multicast`. */
  async multicast (group: CID | string, payload: Uint8Array, options: AbortOptions = {}): Promise<MulticastReport> {
    return await (await this.client(group, options)).multicast(payload, options)
  }

  /** The client this sender uses for `group` (found through the DHT on first use). */
  async client (group: CID | string, options: AbortOptions = {}): Promise<VirtualPeerClient<C, R>> {
    if (this.closed) throw new InvalidArgumentError('the GroupSender is closed')
    const key = (typeof group === 'string' ? parseGroupKey(group) : group).toString()
    let entry = this.clients.get(key)
    if (entry === undefined) {
      entry = VirtualPeerClient.connect<C, R>({ ...this.options, group: key, node: this.node, ...(options.signal !== undefined ? { signal: options.signal } : {}) })
      this.clients.set(key, entry)
      // A failed lookup is not remembered: the next call looks again.
      void entry.catch(() => { if (this.clients.get(key) === entry) this.clients.delete(key) })
    }
    return await entry
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const entries = [...this.clients.values()]
    this.clients.clear()
    for (const e of entries) await e.then(async c => { await c.close() }, () => {})
    if (this.ownsNode) await this.node.stop()
  }
}
