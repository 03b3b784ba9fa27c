import type { Command, Configuration, Epoch, NodeId, Slot } from './types.js'

/**
 * Membership changes are commands in the log (Lamport's α-window reconfiguration): a
 * `Reconfiguration` chosen at slot s governs slots ≥ s + α. It travels as an ordinary Command
 * in a reserved client namespace, so storage and transport carry it unchanged; the core reads
 * it when the slot commits, and the runtime never hands it to the application.
 */
export type ConfigChange =
  | { readonly kind: 'addVoter', readonly node: NodeId }
  | { readonly kind: 'removeVoter', readonly node: NodeId }
  | { readonly kind: 'replaceVoter', readonly remove: NodeId, readonly add: NodeId }
  | { readonly kind: 'addLearner', readonly node: NodeId }
  | { readonly kind: 'removeLearner', readonly node: NodeId }
  | { readonly kind: 'promoteLearner', readonly node: NodeId }
  /**
   * Several learners become voters in one change (growing from one voter to three): one at a
   * time would pass through an even count, and a two-voter group stops when either is away.
   * The α-window makes any change safe in one step: the configuration it replaces decides every
   * slot before it governs.
   */
  | { readonly kind: 'promoteLearners', readonly nodes: readonly NodeId[] }

/** A change and the epoch it expects to replace (compare-and-set). */
export interface Reconfiguration {
  readonly expectEpoch: Epoch
  readonly change: ConfigChange
}

/** A configuration and the first slot it governs. */
export interface ConfigEntry {
  readonly fromSlot: Slot
  readonly configuration: Configuration
}

/** What applying a reconfiguration command at its slot decided, the same on every replica. */
export type ReconfigOutcome =
  | { readonly ok: true, readonly configuration: Configuration, readonly fromSlot: Slot }
  | { readonly ok: false, readonly reason: string }

export const RECONFIG_CLIENT_PREFIX = '\u0000cfg/'

/** Learners one `promoteLearners` may name. */
export const PROMOTE_MAX = 16

export function isReconfigCommand (c: Command): boolean {
  return c.client.startsWith(RECONFIG_CLIENT_PREFIX)
}

export function reconfigCommand (client: string, seq: number, r: Reconfiguration): Command {
  return { client: RECONFIG_CLIENT_PREFIX + client, seq, data: new TextEncoder().encode(JSON.stringify(r)) }
}

/** Decodes a reconfiguration; anything malformed is `undefined` (and is rejected alike everywhere). */
export function decodeReconfiguration (data: Uint8Array): Reconfiguration | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null) return undefined
  const r = raw as { expectEpoch?: unknown, change?: unknown }
  if (typeof r.expectEpoch !== 'number' || !Number.isSafeInteger(r.expectEpoch)) return undefined
  const c = r.change as Record<string, unknown> | null | undefined
  if (typeof c !== 'object' || c === null) return undefined
  const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0
  switch (c.kind) {
    case 'addVoter': case 'removeVoter': case 'addLearner': case 'removeLearner': case 'promoteLearner':
      return str(c.node) ? { expectEpoch: r.expectEpoch, change: { kind: c.kind, node: c.node } } : undefined
    case 'replaceVoter':
      return str(c.remove) && str(c.add) ? { expectEpoch: r.expectEpoch, change: { kind: 'replaceVoter', remove: c.remove, add: c.add } } : undefined
    case 'promoteLearners': {
      const nodes = c.nodes
      if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > PROMOTE_MAX) return undefined
      const list: NodeId[] = []
      for (const n of nodes as unknown[]) {
        if (!str(n) || list.includes(n)) return undefined
        list.push(n)
      }
      return { expectEpoch: r.expectEpoch, change: { kind: 'promoteLearners', nodes: list } }
    }
    default:
      return undefined
  }
}

/**
 * The configuration after `change`, or the reason it cannot apply. Pure, so the rules are
 * tested without a node (hashicorp/raft's nextConfiguration).
 */
export function nextConfiguration (current: Configuration, r: Reconfiguration): Configuration | { readonly error: string } {
  if (r.expectEpoch !== current.epoch) return { error: `stale: expected epoch ${r.expectEpoch}, current is ${current.epoch}` }
  const voters = [...current.voters]
  const learners = [...current.learners]
  const isVoter = (n: NodeId): boolean => voters.includes(n)
  const isLearner = (n: NodeId): boolean => learners.includes(n)
  const drop = (list: NodeId[], n: NodeId): void => { list.splice(list.indexOf(n), 1) }
  const c = r.change
  switch (c.kind) {
    case 'addVoter':
      if (isVoter(c.node)) return { error: `${c.node} is already a voter` }
      if (isLearner(c.node)) drop(learners, c.node)
      voters.push(c.node)
      break
    case 'removeVoter':
      if (!isVoter(c.node)) return { error: `${c.node} is not a voter` }
      if (voters.length === 1) return { error: 'cannot remove the last voter' }
      drop(voters, c.node)
      break
    case 'replaceVoter':
      if (!isVoter(c.remove)) return { error: `${c.remove} is not a voter` }
      if (isVoter(c.add)) return { error: `${c.add} is already a voter` }
      if (isLearner(c.add)) drop(learners, c.add)
      voters[voters.indexOf(c.remove)] = c.add
      break
    case 'addLearner':
      if (isVoter(c.node) || isLearner(c.node)) return { error: `${c.node} is already a member` }
      learners.push(c.node)
      break
    case 'removeLearner':
      if (!isLearner(c.node)) return { error: `${c.node} is not a learner` }
      drop(learners, c.node)
      break
    case 'promoteLearner':
      if (!isLearner(c.node)) return { error: `${c.node} is not a learner` }
      drop(learners, c.node)
      voters.push(c.node)
      break
    case 'promoteLearners':
      if (c.nodes.length === 0 || c.nodes.length > PROMOTE_MAX || new Set(c.nodes).size !== c.nodes.length) return { error: `promoteLearners names 1 to ${PROMOTE_MAX} distinct learners` }
      for (const n of c.nodes) {
        if (!isLearner(n)) return { error: `${n} is not a learner` }
      }
      for (const n of c.nodes) {
        drop(learners, n)
        voters.push(n)
      }
      break
  }
  return { epoch: current.epoch + 1, voters, learners }
}

/** The configuration governing `slot`: the last entry whose fromSlot ≤ slot. `configs` is ascending. */
export function configurationAt (configs: readonly ConfigEntry[], slot: Slot): Configuration {
  let found = configs[0]
  for (const e of configs) {
    if (e.fromSlot <= slot) found = e
    else break
  }
  if (found === undefined) throw new Error('no configuration')
  return found.configuration
}
