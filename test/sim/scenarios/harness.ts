import { CoreCluster } from '../../../src/sim/core-cluster.js'
import type { CoreClusterOptions } from '../../../src/sim/core-cluster.js'
import { SafetyChecker } from '../../../src/sim/checkers.js'
import type { Violation } from '../../../src/sim/checkers.js'
import { DurabilityChecker } from '../../../src/sim/durability.js'
import type { SimMutations } from '../../../src/sim/cluster.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'
import type { Ready } from '../../../src/paxos/node.js'
import type { Ballot, Command, DurableState, LogEntry, NodeId, PersistBatch, Slot, Value } from '../../../src/paxos/types.js'

const enc = new TextEncoder()

/** What a scenario found: every violation the checkers reported, plus notes for the test's message. */
export interface ScenarioOutcome {
  readonly violations: readonly Violation[]
  readonly notes: readonly string[]
  /**
   * Points the script must reach for its verdict to mean anything (e.g. "the new leader decided
   * slot 1"): every one must hold in the run without the mutation.
   */
  readonly checkpoints: ReadonlyArray<{ readonly label: string, readonly ok: boolean }>
}

export const ballot = (round: number, node: NodeId): Ballot => ({ round, node })

/** A read as a client sees it: invoked at a point of the script, answered with what the replica had applied. */
interface ClientRead {
  readonly node: NodeId
  readonly id: string
  /** Clients whose writes were acknowledged before the read was invoked: the read must see them. */
  readonly mustSee: readonly string[]
  index: Slot | undefined
  answer: ReadonlySet<string> | undefined
}

/**
 * A CoreCluster of bare PaxosNodes with explicit message delivery and every checker attached:
 * agreement/validity/integrity (SafetyChecker) on what each incarnation applies, the
 * durability rules (DurabilityChecker) on every write, send and restart, and linearizability of
 * the scripted reads (a read invoked after a write was acknowledged must see it). A scenario
 * scripts one interleaving step by step, so its verdict never depends on a seed's luck.
 */
export class Scripted {
  readonly checker = new SafetyChecker(() => 0)
  readonly durability = new DurabilityChecker(m => { this.checker.report('durability', m) })
  readonly c: CoreCluster
  readonly notes: string[] = []
  readonly checkpoints: Array<{ label: string, ok: boolean }> = []
  private readonly incarnation = new Map<NodeId, number>()
  /** Per node: clients of the commands applied by its current incarnation, and its applied index. */
  private readonly state = new Map<NodeId, { clients: Set<string>, applied: Slot }>()
  private readonly reads: ClientRead[] = []
  private readonly acknowledged = new Set<string>()

  constructor (options: Omit<CoreClusterOptions, 'onCommitted' | 'onReady' | 'config'> & { readonly config?: CoreClusterOptions['config'], readonly mutations?: PaxosMutations }) {
    const { mutations, config, ...rest } = options
    this.c = new CoreCluster({
      ...rest,
      config: { ...config, ...(mutations !== undefined ? { mutations } : {}) },
      onReady: (id, rd) => { this.onReady(id, rd) }
    })
  }

  node (id: NodeId): ReturnType<CoreCluster['node']> {
    return this.c.node(id)
  }

  /** A client command, registered as proposed (validity). */
  cmd (client: string): Command {
    const command = { client, seq: 1, data: enc.encode(client) }
    this.checker.proposedCommand(command)
    return command
  }

  /** A value as a leader of `b` would have proposed it at `slot`. */
  value (b: Ballot, slot: Slot, ...commands: Command[]): Value {
    return { id: `${b.round}.${b.node}.${slot}`, commands }
  }

  /**
   * Starts `id` from a durable state that an earlier history left behind (the scenario's comment
   * tells that history). Counts as the node's first incarnation.
   */
  seed (id: NodeId, durable: { promised?: Ballot, commitIndex?: Slot, log?: ReadonlyArray<readonly [Slot, LogEntry]> }): void {
    const batch: PersistBatch = {
      entries: (durable.log ?? []).map(([s, e]) => [s, e] as [Slot, LogEntry]),
      ...(durable.promised !== undefined ? { promised: durable.promised } : {}),
      ...(durable.commitIndex !== undefined ? { commitIndex: durable.commitIndex } : {})
    }
    const image = this.c.images.get(id)
    if (image === undefined) throw new Error(`no node ${id}`)
    image.apply(batch)
    this.durability.onDurable(id, batch)
    this.c.restart(id)
  }

  crash (id: NodeId): void {
    this.c.crash(id)
  }

  /** Restarts `id` from its durable image (`mutate` plays a storage that loses something). */
  restart (id: NodeId, mutate?: (d: DurableState) => DurableState): void {
    this.incarnation.set(id, (this.incarnation.get(id) ?? 1) + 1)
    this.state.delete(id)
    const node = this.c.restart(id, mutate)
    this.durability.onRestart(id, node.status())
  }

  /** The client of `command` got its answer (the command was applied at the leader it asked). */
  acknowledge (client: string): void {
    this.acknowledged.add(client)
  }

  /** A client asks `id` for a linearizable read now. */
  read (id: NodeId, readId: string): void {
    this.reads.push({ node: id, id: readId, mustSee: [...this.acknowledged], index: undefined, answer: undefined })
    this.c.node(id).requestRead(readId)
  }

  applied (id: NodeId): ReadonlySet<string> {
    return this.state.get(id)?.clients ?? new Set()
  }

  readAnswer (readId: string): ReadonlySet<string> | undefined {
    return this.reads.find(r => r.id === readId)?.answer
  }

  /** Ticks `ids` and delivers everything, `n` times. */
  run (ids: readonly NodeId[], n: number): void {
    for (let i = 0; i < n; i++) {
      this.c.tick(ids)
      this.c.stabilize()
    }
  }

  /** Ticks `ids` until `done()` or `max` ticks. */
  runUntil (ids: readonly NodeId[], done: () => boolean, max = 400): boolean {
    for (let i = 0; i < max && !done(); i++) {
      this.c.tick(ids)
      this.c.stabilize()
    }
    return done()
  }

  isLeader (id: NodeId): boolean {
    return !this.c.down.has(id) && this.c.node(id).softState().role === 'leader'
  }

  /** Records whether the script reached a point it depends on. */
  checkpoint (label: string, ok: boolean): void {
    this.checkpoints.push({ label, ok })
  }

  outcome (): ScenarioOutcome {
    return { violations: [...this.checker.violations], notes: this.notes, checkpoints: this.checkpoints }
  }

  private onReady (id: NodeId, rd: Ready): void {
    // Durability: CoreCluster applies the persist before it queues the sends, as the Ready contract demands.
    if (rd.persist !== undefined) {
      this.durability.onWrite(id, rd.persist)
      this.durability.onDurable(id, rd.persist)
    }
    for (const env of rd.send) this.durability.onSend(id, env.to, env.message)
    let st = this.state.get(id)
    if (st === undefined) { st = { clients: new Set(), applied: 0 }; this.state.set(id, st) }
    const inc = this.incarnation.get(id) ?? 1
    for (const c of rd.committed) {
      this.checker.onSlot(id, inc, c.slot, c.value)
      for (const command of c.value.commands) st.clients.add(command.client)
      st.applied = c.slot
    }
    for (const r of rd.reads) {
      const read = this.reads.find(x => x.node === id && x.id === r.id)
      if (read !== undefined) read.index = r.index
    }
    // A read is served once the replica has applied its index (what VirtualPeer does).
    for (const read of this.reads) {
      if (read.node !== id || read.index === undefined || read.answer !== undefined || read.index > st.applied) continue
      read.answer = new Set(st.clients)
      const missing = read.mustSee.filter(c => !st.clients.has(c))
      if (missing.length > 0) {
        this.checker.report('linearizability', `read ${read.id} at ${id} (index ${read.index}) missed the acknowledged write(s) ${missing.join(', ')}`)
      }
    }
  }
}

/** Keeps only the core's mutations (the SimCluster ones are not PaxosConfig fields). */
export function coreMutations (m: SimMutations): PaxosMutations {
  const { forgetPromiseOnRestart: _p, forgetVotesOnRestart: _v, ...core } = m
  return core
}
