import { checkHistory, formatViolation } from './lincheck/index.js'
import type { HistoryEvent } from './lincheck/index.js'
import type { Violation } from './checkers.js'
import { SimClient } from './client.js'
import { SimCluster } from './cluster.js'
import { KvStateMachine } from './kv.js'
import type { NodeId } from '../paxos/index.js'
import type { Transport } from '../contracts/index.js'
import type { WireMessage } from '../vpeer/snapshot-transfer.js'

export interface RollingReplacementOptions {
  readonly seed: number
  /** Voters at the start; as many spares stand by. */
  readonly nodes: number
  readonly replaceAfterTicks: number
  /** Network loss during the run (0–0.3). */
  readonly lossRate?: number
  readonly pipelineMax?: number
  readonly clients?: number
  /** Longest a single replacement may take before the run counts as failed, ms of virtual time. */
  readonly replacementDeadlineMs?: number
  readonly trace?: (line: string) => void
  /** The first spare that joins as a learner crashes while catching up (the policy must drop it and try another). */
  readonly crashFirstLearner?: boolean
  /** When the first replacement is half done (learner added), the leader crashes too (needs ≥ 5 nodes). */
  readonly crashLeaderMidReplacement?: boolean
  /** Each replaced member comes back (stale configuration, old disk) and must not disrupt the group. */
  readonly reviveReplaced?: boolean
  /**
   * Virtual ms of client load before the first crash (default 1000). Nothing is compacted yet,
   * so a longer warm-up means a longer log for every replacement learner to catch up.
   */
  readonly warmupMs?: number
  /** How often the run checks whether the victim was replaced, ms (default 50): the resolution of `timings[].ms`. */
  readonly pollMs?: number
  /**
   * Snapshots and compaction (SimClusterOptions pass-through; default: the VirtualPeer defaults,
   * which take no snapshot in a run this short). With a short retention a replacement learner
   * finds the log below it compacted away and catches up by snapshot transfer.
   */
  readonly snapshotEverySlots?: number
  readonly logRetentionSlots?: number
  readonly snapshotChunkBytes?: number
  /**
   * Opaque application state carried in every snapshot besides the registers, bytes (default 0):
   * stands for a large state without a long warm-up (see PaddedKvStateMachine).
   */
  readonly stateBytes?: number
  /** SimClusterOptions.wrapTransport pass-through (tests: watch or drop messages in flight). */
  readonly wrapTransport?: (id: NodeId, transport: Transport<WireMessage>) => Transport<WireMessage>
  /** Called once the cluster is built, before it starts (tests: partitions, schedules of their own). */
  readonly onCluster?: (cluster: SimCluster) => void
}

export interface ReplacementTiming {
  readonly crashed: NodeId
  readonly wasLeader: boolean
  readonly replacement: NodeId | undefined
  /** Virtual ms from the permanent crash to the configuration in which the replacement votes. */
  readonly ms: number | undefined
  /** The highest chosen slot when the victim crashed: the log a new member had to catch up. */
  readonly slotsAtCrash?: number
}

export interface RollingReplacementResult {
  readonly seed: number
  readonly ok: boolean
  readonly violations: readonly Violation[]
  readonly timings: readonly ReplacementTiming[]
  readonly finalVoters: readonly NodeId[]
  readonly opsOk: number
  readonly slots: number
  readonly history: readonly HistoryEvent[]
  /** Snapshots received from a peer and installed, over the whole run (SimCluster.snapshotInstalls). */
  readonly snapshotInstalls: number
}

/**
 * The register store plus `padding.byteLength` bytes of opaque state that every snapshot carries
 * (and every restore checks): a large application state, so that snapshot size can be varied
 * without writing megabytes through the log first. The registers alone decide `digest()`, so the
 * safety checkers compare what they always compared.
 */
export class PaddedKvStateMachine extends KvStateMachine {
  private readonly padding: Uint8Array

  /** `padding` is shared by every replica (read-only): one copy however many nodes there are. */
  constructor (padding: Uint8Array) {
    super()
    this.padding = padding
  }

  override snapshot (): Uint8Array {
    const kv = super.snapshot()
    const out = new Uint8Array(4 + kv.byteLength + this.padding.byteLength)
    new DataView(out.buffer).setUint32(0, kv.byteLength)
    out.set(kv, 4)
    out.set(this.padding, 4 + kv.byteLength)
    return out
  }

  override restore (bytes: Uint8Array): void {
    const length = bytes.byteLength >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0) : -1
    // A throw here halts the replica (loudly); a silent mismatch would hide a transfer that
    // delivered the wrong bytes.
    if (length < 0 || bytes.byteLength !== 4 + length + this.padding.byteLength) throw new Error(`padded snapshot of ${bytes.byteLength} bytes does not match ${this.padding.byteLength} bytes of padding`)
    super.restore(bytes.subarray(4, 4 + length))
  }
}

/** Deterministic, incompressible-looking filler (xorshift32), so chunks differ from each other. */
export function paddingBytes (size: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = 0x9e3779b9
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/**
 * Rolling replacement (issue 3 §4): every original member is crashed permanently, one at a
 * time, with a majority alive at each moment; the leader's replacement policy swaps each dead
 * voter for a spare. The VP must keep committing, the history must stay linearizable, every
 * safety checker must stay silent, and at the end no original member may remain.
 */
export async function runRollingReplacement (options: RollingReplacementOptions): Promise<RollingReplacementResult> {
  const padding = (options.stateBytes ?? 0) > 0 ? paddingBytes(options.stateBytes ?? 0) : undefined
  const cluster = new SimCluster({
    seed: options.seed,
    nodes: options.nodes,
    // One spare per original member, plus one for the spare that is crashed on purpose.
    spares: options.nodes + (options.crashFirstLearner === true ? 1 : 0),
    network: { lossRate: options.lossRate ?? 0.02 },
    paxos: { alpha: options.pipelineMax ?? 32 },
    replacement: { replaceAfterTicks: options.replaceAfterTicks },
    ...(options.trace !== undefined ? { trace: options.trace } : {}),
    ...(options.snapshotEverySlots !== undefined ? { snapshotEverySlots: options.snapshotEverySlots } : {}),
    ...(options.logRetentionSlots !== undefined ? { logRetentionSlots: options.logRetentionSlots } : {}),
    ...(options.snapshotChunkBytes !== undefined ? { snapshotChunkBytes: options.snapshotChunkBytes } : {}),
    ...(options.wrapTransport !== undefined ? { wrapTransport: options.wrapTransport } : {}),
    ...(padding !== undefined ? { stateMachine: () => new PaddedKvStateMachine(padding) } : {})
  })
  options.onCluster?.(cluster)
  const history: HistoryEvent[] = []
  const clientPrng = cluster.prng.fork('clients')
  const clients = Array.from({ length: options.clients ?? 3 }, (_, i) => new SimClient(cluster, clientPrng.fork(`c${i}`), history, {
    process: i + 1, keys: ['k1', 'k2', 'k3'], attemptTimeoutMs: 1000, attempts: 3, thinkMsMax: 40, readRatio: 0.4, casRatio: 0.2
  }))
  const violations: Violation[] = []
  const timings: ReplacementTiming[] = []
  const deadline = options.replacementDeadlineMs ?? 60_000
  const s = cluster.scheduler
  await cluster.start()
  const loops = clients.map(async c => { await c.run() })
  await s.runUntilAsync(s.now() + (options.warmupMs ?? 1000))

  const order = [...cluster.bootstrapVoters]
  cluster.prng.fork('order').shuffle(order)
  let learnerCrashed = options.crashFirstLearner !== true
  let leaderCrashed = options.crashLeaderMidReplacement !== true
  const revived: NodeId[] = []
  const crashedAt = new Map<NodeId, { time: number, voters: NodeId[] }>()
  /** Spares already counted as some victim's replacement. */
  const attributed = new Set<NodeId>()
  for (let i = 0; i < order.length; i++) {
    const victim = order[i] as NodeId
    // A victim already down was crashed by a harder schedule (the leader mid-replacement):
    // only wait for its replacement. Otherwise keep the scenario's premise, a majority alive
    // at every moment: the previous replacement must be in effect with every voter up.
    const alreadyDown = !cluster.isUp(victim)
    const settleFrom = s.now()
    while (!alreadyDown && !settled(cluster) && s.now() - settleFrom < deadline) await s.runUntilAsync(s.now() + 50)
    const before = new Set(alreadyDown ? (crashedAt.get(victim)?.voters ?? []) : latestVoters(cluster))
    const wasLeader = alreadyDown || cluster.leader() === victim
    const slotsAtCrash = cluster.checker.highestChosen()
    if (!alreadyDown) {
      cluster.crash(victim)
      cluster.trace(`scenario: ${victim} crashed for good${wasLeader ? ' (the leader)' : ''}`)
    }
    const start = alreadyDown ? (crashedAt.get(victim)?.time ?? s.now()) : s.now()
    let replacement: NodeId | undefined
    while (s.now() - start < deadline) {
      await s.runUntilAsync(s.now() + (options.pollMs ?? 50))
      const learners = latestLearners(cluster)
      if (!learnerCrashed && learners.length > 0) {
        learnerCrashed = true
        cluster.crash(learners[0] as NodeId)
        cluster.trace(`scenario: learner ${learners[0] as NodeId} crashed while catching up`)
      }
      const leader = cluster.leader()
      if (!leaderCrashed && learners.length > 0 && leader !== undefined) {
        leaderCrashed = true
        cluster.crash(leader)
        crashedAt.set(leader, { time: s.now(), voters: latestVoters(cluster) })
        cluster.trace(`scenario: leader ${leader} crashed in the middle of the replacement`)
        // It must be replaced too: handle it right after this victim.
        const at = order.indexOf(leader)
        if (at > i) order.splice(at, 1)
        order.splice(i + 1, 0, leader)
      }
      const voters = latestVoters(cluster)
      if (!voters.includes(victim)) {
        replacement = voters.find(v => !before.has(v) && !attributed.has(v))
        if (replacement !== undefined) attributed.add(replacement)
        break
      }
    }
    const ms = replacement !== undefined ? s.now() - start : undefined
    timings.push({ crashed: victim, wasLeader, replacement, ms, slotsAtCrash })
    if (replacement === undefined) {
      violations.push({ kind: 'liveness', message: `${victim} was not replaced within ${deadline} ms`, time: s.now() })
      break
    }
    cluster.trace(`scenario: ${victim} replaced by ${replacement} after ${Math.round(ms ?? 0)} ms`)
    // Let the new configuration settle before the next failure (the α window must pass).
    await s.runUntilAsync(s.now() + 500)
    if (options.reviveReplaced === true) {
      // Back from the dead with its old disk: it must learn it was removed and stay quiet.
      await cluster.restart(victim)
      revived.push(victim)
      cluster.trace(`scenario: ${victim} came back after being replaced`)
    }
  }

  const liveFrom = s.now()
  const firstLiveOp = history.length
  await s.runUntilAsync(s.now() + 3000)
  for (const c of clients) c.stop()
  while (clients.some(c => c.running) && s.now() < liveFrom + 20_000) await s.runUntilAsync(s.now() + 50)
  // Read the outcome while the nodes are still up.
  const finalVoters = latestVoters(cluster)
  const revivedStatus = revived.map(id => ({ id, status: cluster.peer(id)?.status() }))
  cluster.haltAll()
  await s.runUntilAsync(s.now() + 1)
  await Promise.all(loops)

  violations.push(...cluster.checker.violations)
  if (finalVoters.length === 0) violations.push({ kind: 'liveness', message: 'no live node knows a configuration at the end', time: s.now() })
  for (const { id, status } of revivedStatus) {
    if (status === undefined) continue
    // A revived member may legitimately be chosen again as a spare (it then joins as a learner
    // and catches up first); what it must never do is act on its stale configuration.
    if (finalVoters.includes(id)) continue
    if (status.role !== 'follower') violations.push({ kind: 'liveness', message: `replaced member ${id} is a ${status.role} again`, time: s.now() })
    if (status.configuration.voters.includes(id)) violations.push({ kind: 'liveness', message: `replaced member ${id} still believes it votes (epoch ${status.configuration.epoch})`, time: s.now() })
  }
  const originals = finalVoters.filter(v => cluster.bootstrapVoters.includes(v) && !revived.includes(v))
  if (originals.length > 0) violations.push({ kind: 'liveness', message: `original members still voting: ${originals.join(',')}`, time: s.now() })
  const okAfter = history.slice(firstLiveOp).filter(e => e.type === 'ok').length
  if (okAfter === 0) violations.push({ kind: 'liveness', message: 'no operation completed after the last replacement', time: s.now() })
  const lin = checkHistory(history, { maxSteps: 2_000_000 })
  if (lin.outcome === 'violation') violations.push({ kind: 'linearizability', message: formatViolation(lin), time: s.now() })
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    timings,
    finalVoters,
    opsOk: clients.reduce((n, c) => n + c.ok, 0),
    slots: cluster.checker.highestChosen(),
    history,
    snapshotInstalls: cluster.snapshotInstalls
  }
}

/**
 * A leader's newest configuration is in effect (no change pending in the α window) and every
 * voter in it is up: only then does one more failure leave a majority alive.
 */
function settled (cluster: SimCluster): boolean {
  const leader = cluster.leader()
  const status = leader === undefined ? undefined : cluster.peer(leader)?.status()
  if (status === undefined || status.configurations.length !== 1) return false
  // Every voter must be up and must itself know the newest configuration is in effect: a voter
  // that has not learned it would, after the next failure, still need the old configuration's
  // quorum for the slots before it.
  return status.configuration.voters.every(v => {
    const s = cluster.isUp(v) ? cluster.peer(v)?.status() : undefined
    return s !== undefined && s.configurations.length === 1 && s.configuration.epoch === status.configuration.epoch
  })
}

function latestLearners (cluster: SimCluster): NodeId[] {
  let best: { epoch: number, learners: NodeId[] } | undefined
  for (const id of cluster.upIds()) {
    const c = cluster.peer(id)?.status().configuration
    if (c !== undefined && (best === undefined || c.epoch > best.epoch)) best = { epoch: c.epoch, learners: [...c.learners] }
  }
  return best?.learners ?? []
}

/** The voters of the newest configuration that any live node has committed. */
function latestVoters (cluster: SimCluster): NodeId[] {
  let best: { epoch: number, voters: NodeId[] } | undefined
  for (const id of cluster.upIds()) {
    const c = cluster.peer(id)?.status().configuration
    if (c !== undefined && (best === undefined || c.epoch > best.epoch)) best = { epoch: c.epoch, voters: [...c.voters] }
  }
  return best?.voters ?? []
}
