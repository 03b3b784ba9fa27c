import { assert } from '../util/assert.js'
import { mark } from '../util/marks.js'
import type { PaxosMutations } from './config.js'
import { isMember, isVoter, members } from './configuration.js'
import { isQuorum } from './quorum.js'
import { configurationAt, decodeReconfiguration, isReconfigCommand, nextConfiguration } from './reconfiguration.js'
import type { ConfigEntry, ReconfigOutcome } from './reconfiguration.js'
import type { Command, Configuration, NodeId, Slot, Value } from './types.js'

/** A reconfiguration that took effect when its slot committed. */
export interface AppliedReconfiguration {
  readonly slot: Slot
  /** The newest configuration before this change. */
  readonly previous: Configuration
  readonly configuration: Configuration
  /** slot + α: the first slot the change governs (the entry may start later, see `commit`). */
  readonly fromSlot: Slot
}

/**
 * The configurations a node knows (etcd/raft's `confchange` and the configuration half of
 * `tracker`): which configuration governs which slot, who is a known voter or member, what a
 * quorum of every known configuration is, and the α-window rule applied when a slot carrying a
 * reconfiguration commits. Pure bookkeeping: no messages, no roles.
 *
 * `entries` are ascending by first governed slot; an entry is pruned once a later one governs
 * every slot above the commit index. `history` keeps, with the slot each was chosen at, every
 * configuration added since the applied index, which `snapshotConfigs` needs when a snapshot is
 * taken below the commit index (where `entries` has already been pruned).
 */
export class Membership {
  private configs: ConfigEntry[] = []
  private history: Array<{ readonly slot: Slot, readonly entry: ConfigEntry }> = []
  /** Outcomes of committed reconfiguration commands, by slot and offset, until handed out. */
  private readonly outcomes = new Map<Slot, Map<number, ReconfigOutcome>>()

  constructor (configs: readonly ConfigEntry[], commitIndex: Slot) {
    this.reset(configs, commitIndex)
  }

  /** Starts over from `configs`, the configurations governing slots above `commitIndex` (a snapshot's). */
  reset (configs: readonly ConfigEntry[], commitIndex: Slot): void {
    assert(configs.length > 0, 'at least one configuration')
    this.configs = [...configs]
    this.prune(commitIndex)
    this.history = this.configs.map(entry => ({ slot: commitIndex, entry }))
  }

  /** Every known configuration still governing some slot above the commit index, ascending. */
  get entries (): readonly ConfigEntry[] {
    return this.configs
  }

  /** Drops configurations that no slot above `commitIndex` can be governed by any more. */
  prune (commitIndex: Slot): void {
    while (this.configs.length > 1 && (this.configs[1] as ConfigEntry).fromSlot <= commitIndex + 1) this.configs.shift()
  }

  /** The configuration governing `slot`. */
  at (slot: Slot): Configuration {
    return configurationAt(this.configs, slot)
  }

  /** The newest known configuration (it may govern only slots above commit index + α). */
  latest (): Configuration {
    return this.latestEntry().configuration
  }

  /** The first slot the newest configuration governs. */
  latestFromSlot (): Slot {
    return this.latestEntry().fromSlot
  }

  /** Voters of every configuration governing some slot above the commit index. */
  knownVoters (): NodeId[] {
    if (this.configs.length === 1) return (this.configs[0] as ConfigEntry).configuration.voters as NodeId[]
    const out = new Set<NodeId>()
    for (const e of this.configs) for (const v of e.configuration.voters) out.add(v)
    return [...out]
  }

  /** Voters and learners of every such configuration. */
  knownMembers (): NodeId[] {
    const out = new Set<NodeId>()
    for (const e of this.configs) for (const id of members(e.configuration)) out.add(id)
    return [...out]
  }

  isKnownVoter (id: NodeId): boolean {
    for (const e of this.configs) if (isVoter(e.configuration, id)) return true
    return false
  }

  isKnownMember (id: NodeId): boolean {
    for (const e of this.configs) if (isMember(e.configuration, id)) return true
    return false
  }

  /** A quorum of every known configuration: what elections, reads and check-quorum need. */
  quorumInAll (votes: ReadonlySet<NodeId>): boolean {
    for (const e of this.configs) if (!isQuorum(votes, e.configuration)) return false
    return true
  }

  /**
   * `slot` (the next one) committed with `value`: applies its reconfiguration commands in
   * order, records their outcomes for the hand-out, and prunes what the new commit index no
   * longer needs. A change chosen at slot s governs slots ≥ s + α, so it can never alter the
   * configuration of a slot a leader may already have proposed (every proposed slot is ≤
   * commitIndex + α). Returns the changes that took effect.
   */
  commit (slot: Slot, value: Value, alpha: number, mutations: PaxosMutations | undefined): AppliedReconfiguration[] {
    const applied: AppliedReconfiguration[] = []
    for (let offset = 0; offset < value.commands.length; offset++) {
      const command = value.commands[offset] as Command
      if (!isReconfigCommand(command)) continue
      const outcome = this.apply(slot, command, alpha, mutations, applied)
      let outcomes = this.outcomes.get(slot)
      if (outcomes === undefined) { outcomes = new Map(); this.outcomes.set(slot, outcomes) }
      outcomes.set(offset, outcome)
    }
    this.prune(slot)
    return applied
  }

  private apply (slot: Slot, command: Command, alpha: number, mutations: PaxosMutations | undefined, applied: AppliedReconfiguration[]): ReconfigOutcome {
    const r = decodeReconfiguration(command.data)
    if (r === undefined) return { ok: false, reason: 'malformed reconfiguration' }
    const previous = this.latest()
    const next = nextConfiguration(previous, r)
    if ('error' in next) {
      mark('reconfiguration rejected')
      return { ok: false, reason: next.error }
    }
    // The α-window rule: a change chosen at slot s governs slots ≥ s + α. The mutations let a
    // change take effect sooner, while slots proposed under the old configuration are in flight.
    const fromSlot = slot + (mutations?.reconfigureAtNextSlot === true ? 1 : mutations?.alphaOffByOne === true ? alpha - 1 : alpha)
    // Two changes chosen within α of each other: the second cannot take effect before the first.
    const entry: ConfigEntry = { fromSlot: Math.max(fromSlot, this.latestFromSlot()), configuration: next }
    this.configs.push(entry)
    this.history.push({ slot, entry })
    applied.push({ slot, previous, configuration: next, fromSlot })
    return { ok: true, configuration: next, fromSlot }
  }

  /** The reconfiguration outcomes of a committed slot, handed out once. */
  takeOutcomes (slot: Slot): ReadonlyMap<number, ReconfigOutcome> | undefined {
    const outcomes = this.outcomes.get(slot)
    if (outcomes !== undefined) this.outcomes.delete(slot)
    return outcomes
  }

  /** A snapshot covers slots ≤ `index`: their outcomes will never be handed out. */
  dropOutcomesThrough (index: Slot): void {
    for (const slot of [...this.outcomes.keys()]) if (slot <= index) this.outcomes.delete(slot)
  }

  /**
   * The configurations governing the slots above `index` (more than one while a change chosen
   * at or below `index` waits out its α window): a snapshot's configuration metadata.
   */
  snapshotConfigs (index: Slot): ConfigEntry[] {
    const out = this.history.filter(h => h.slot <= index).map(h => h.entry)
    while (out.length > 1 && (out[1] as ConfigEntry).fromSlot <= index + 1) out.shift()
    assert(out.length > 0, () => `no configuration known at snapshot index ${index}`)
    return out
  }

  /** No snapshot will be asked for below `appliedIndex`: forget what every such snapshot would prune. */
  trimHistory (appliedIndex: Slot): void {
    const h = this.history
    while (h.length > 1 && (h[1] as { slot: Slot }).slot <= appliedIndex && (h[1] as { entry: ConfigEntry }).entry.fromSlot <= appliedIndex + 1) h.shift()
  }

  private latestEntry (): ConfigEntry {
    return this.configs[this.configs.length - 1] as ConfigEntry
  }
}
