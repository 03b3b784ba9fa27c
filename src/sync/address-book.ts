/**
 * The group's address book: where each machine of a replication group listens, as replicated
 * state. A node records its own addresses through the log when it starts (and when they change);
 * every node learns everyone's from the log or a snapshot, so receivers can fetch from each other,
 * and a node that restarts finds its peers even if the ones it was invited by are gone.
 *
 * Only a machine itself may set its entry: the command's peer must be the peer that submitted it
 * (the session's client id starts with its PeerId: `<id>#…` from its own runtime, `<id>/…` through
 * the client protocol, where the member authenticated it). Decided alike on every replica.
 */
import type { ApplyContext } from '../contracts/index.js'
import { SyncCodecError } from './errors.js'

export interface NodeRecord {
  readonly peer: string
  readonly name: string
  /** Listen multiaddrs, without /p2p/. */
  readonly addrs: readonly string[]
  /** Proposal time of the record's slot. */
  readonly atMs: number
}

export interface NodeCommand {
  readonly type: 'node'
  readonly peer: string
  readonly name: string
  readonly addrs: readonly string[]
}

export type NodeResult = { readonly status: 'ok' } | { readonly status: 'refused', readonly reason: string }

export const NODES_MAX = 1024
export const NODE_ADDRS_MAX = 16
const PEER = /^[1-9A-HJ-NP-Za-km-z]{32,128}$/
const NAME = /^[\w.@-]{1,64}$/
// Syntax only (this layer does not parse multiaddrs): /ip4|ip6|dns*/<host>/tcp|udp/<port>[/…].
const ADDR = /^\/(ip4|ip6|dns|dns4|dns6)\/[^/\s]{1,253}\/(tcp|udp)\/\d{1,5}(\/[\w.-]+)*$/

/** Why `command` cannot be applied (for this submitter), or undefined. */
export function nodeCommandProblem (command: NodeCommand, client: string): string | undefined {
  if (typeof command.peer !== 'string' || !PEER.test(command.peer)) return 'peer is not a peer id'
  if (typeof command.name !== 'string' || !NAME.test(command.name)) return 'name must be 1-64 characters of [A-Za-z0-9_.@-]'
  if (!Array.isArray(command.addrs) || command.addrs.length === 0 || command.addrs.length > NODE_ADDRS_MAX) return `addrs must be 1 to ${NODE_ADDRS_MAX} multiaddrs`
  for (const a of command.addrs) {
    if (typeof a !== 'string' || a.length > 256 || !ADDR.test(a) || a.includes('/p2p/')) return `not a listen address: ${JSON.stringify(String(a).slice(0, 80))}`
  }
  const submitter = client.split(/[#/]/, 1)[0]
  if (submitter !== command.peer) return 'a machine may set only its own addresses'
  return undefined
}

export class AddressBook {
  private records = new Map<string, NodeRecord>()
  private readonly listeners = new Set<() => void>()

  apply (command: NodeCommand, ctx: ApplyContext): NodeResult {
    const problem = nodeCommandProblem(command, ctx.client)
    if (problem !== undefined) return { status: 'refused', reason: problem }
    if (!this.records.has(command.peer) && this.records.size >= NODES_MAX) return { status: 'refused', reason: `the address book holds ${NODES_MAX} machines` }
    this.records.set(command.peer, { peer: command.peer, name: command.name, addrs: [...command.addrs], atMs: ctx.proposedAtMs })
    this.notify()
    return { status: 'ok' }
  }

  get (peer: string): NodeRecord | undefined {
    return this.records.get(peer)
  }

  entries (): NodeRecord[] {
    return [...this.records.values()].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
  }

  /** Called after every change and after a restore. */
  onChange (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Canonical: sorted by peer, so every replica's bytes are equal. */
  snapshot (): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.entries()))
  }

  /** @throws SyncCodecError on bytes that are not an address book (nothing changed) */
  restore (bytes: Uint8Array): void {
    let raw: unknown
    try {
      raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    } catch (error) {
      throw new SyncCodecError('the address book in the snapshot is not UTF-8 JSON', { cause: error })
    }
    if (!Array.isArray(raw) || raw.length > NODES_MAX) throw new SyncCodecError('the address book in the snapshot is not a list')
    const next = new Map<string, NodeRecord>()
    for (const r of raw as unknown[]) {
      const o = r as Partial<NodeRecord> | null
      if (typeof o !== 'object' || o === null || typeof o.atMs !== 'number' || !Number.isSafeInteger(o.atMs)) throw new SyncCodecError('a damaged address-book record')
      const problem = nodeCommandProblem({ type: 'node', peer: o.peer as string, name: o.name as string, addrs: o.addrs as string[] }, String(o.peer))
      if (problem !== undefined || next.has(o.peer as string)) throw new SyncCodecError(`a damaged address-book record: ${problem ?? 'a peer twice'}`)
      next.set(o.peer as string, { peer: o.peer as string, name: o.name as string, addrs: [...(o.addrs as string[])], atMs: o.atMs })
    }
    this.records = next
    this.notify()
  }

  private notify (): void {
    for (const l of [...this.listeners]) {
      try {
        l()
      } catch {
        // A listener must not fail a command on one replica only.
      }
    }
  }
}
