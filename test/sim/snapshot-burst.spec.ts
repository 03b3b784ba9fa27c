/**
 * Issue 7 §4: snapshot production keeps pace with any load and never waits for a later write.
 *
 * A sustained, unbatched burst (one command per slot) through three VirtualPeers over the
 * simulator, sampled at every Ready each peer carries out (the 'applied' event):
 *   (a) the snapshot index stays within a bounded lag of the applied index during the burst;
 *   (b) once the burst is over, with no further writes, every peer's snapshot settles within
 *       `snapshotEverySlots` of its applied index (no snapshot due) within bounded time;
 *   (c) the core's in-memory log (slots compactedThrough+1 … lastSlot) stays bounded.
 *
 * Two worlds that used to break it:
 * - zero latency (network and fsync): the whole burst happens without virtual time moving, so no
 *   clock timer fires until it ends. Before the fix the manifest was hashed only on timer ticks:
 *   no snapshot completed during the burst and the one copied at ~1,000 was stored only after
 *   it, where it stayed (the next one was started only by a later apply);
 * - a state that takes longer to hash on timer ticks than the cluster takes to apply
 *   `snapshotEverySlots` slots: the lag grew with every interval.
 */
import { describe, expect, it } from 'vitest'
import { SimCluster } from '../../src/sim/cluster.js'
import type { SimClusterOptions } from '../../src/sim/cluster.js'
import type { KvCommand } from '../../src/sim/kv.js'
import { PaddedKvStateMachine, paddingBytes } from '../../src/sim/scenarios.js'
import type { NodeId } from '../../src/paxos/index.js'
import { DEFAULT_PAXOS_CONFIG } from '../../src/paxos/config.js'

const enc = new TextEncoder()

interface BurstOptions {
  readonly seed: number
  readonly slots: number
  readonly every: number
  readonly retention: number
  readonly window: number
  readonly cluster?: Partial<SimClusterOptions>
}

interface BurstResult {
  readonly cluster: SimCluster
  /** Max over every sample of applied − snapshotIndex, once applied ≥ 2 × every. */
  readonly maxLag: number
  /** Max over every sample of lastSlot − compactedThrough (entries the core may hold). */
  readonly maxLog: number
  /** Snapshots whose index was reached during the burst, per peer (from the samples). */
  readonly snapshotsDuringBurst: Map<NodeId, number>
  readonly pipelineMax: number
}

async function burst (o: BurstOptions): Promise<BurstResult> {
  const cluster = new SimCluster({
    nodes: 3,
    tickMs: 10,
    paxos: { batchCommandsMax: 1 },
    snapshotEverySlots: o.every,
    logRetentionSlots: o.retention,
    ...o.cluster,
    seed: o.seed
  })
  await cluster.start()
  while (cluster.leader() === undefined) await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  const leaderId = cluster.leader() as NodeId
  const leader = cluster.peer(leaderId)
  if (leader === undefined) throw new Error('no leader')
  const pipelineMax = o.cluster?.paxos?.alpha ?? DEFAULT_PAXOS_CONFIG.alpha

  let maxLag = 0
  let maxLog = 0
  let burstOver = false
  const snapshotsDuringBurst = new Map<NodeId, number>()
  for (const id of cluster.ids) {
    const peer = cluster.peer(id)
    if (peer === undefined) continue
    let lastSnap = 0
    snapshotsDuringBurst.set(id, 0)
    peer.addEventListener('applied', () => {
      const s = peer.status()
      if (s.appliedIndex >= 2 * o.every) maxLag = Math.max(maxLag, s.appliedIndex - s.snapshotIndex)
      maxLog = Math.max(maxLog, s.lastSlot - s.compactedThrough)
      if (!burstOver && s.snapshotIndex > lastSnap) {
        lastSnap = s.snapshotIndex
        snapshotsDuringBurst.set(id, (snapshotsDuringBurst.get(id) ?? 0) + 1)
      }
    })
  }

  // A closed loop: `window` writes outstanding at all times, each its own slot.
  let sent = 0
  let done = 0
  let failed: unknown
  const pump = (): void => {
    while (sent < o.slots && sent - done < o.window) {
      const i = sent++
      const client = `c${i % 64}`
      const seq = Math.floor(i / 64) + 1
      const command: KvCommand = { f: 'write', key: `k${i % 97}`, value: i }
      cluster.checker.proposedCommand({ client, seq, data: enc.encode(JSON.stringify(command)) })
      leader.submit(command, { session: { client, seq } }).then(() => { done++; pump() }, (error: unknown) => { failed ??= error })
    }
  }
  pump()
  const deadline = cluster.scheduler.now() + 600_000
  while (done < o.slots) {
    if (failed !== undefined) throw failed
    if (cluster.scheduler.now() > deadline) throw new Error(`burst stuck at ${done}/${o.slots}`)
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  }
  burstOver = true
  return { cluster, maxLag, maxLog, snapshotsDuringBurst, pipelineMax }
}

/** (b): with no further writes, every peer's snapshot settles within `every` of applied. */
async function settlesWithoutWrites (cluster: SimCluster, every: number, maxMs: number): Promise<number> {
  const start = cluster.scheduler.now()
  const settled = (): boolean => cluster.ids.every(id => {
    const p = cluster.peer(id)
    if (p === undefined) return true
    const s = p.status()
    return s.appliedIndex === s.commitIndex && s.appliedIndex - s.snapshotIndex < every
  })
  while (!settled()) {
    if (cluster.scheduler.now() - start > maxMs) {
      const report = cluster.ids.map(id => { const s = cluster.peer(id)?.status(); return `${id}: applied ${s?.appliedIndex} snapshot ${s?.snapshotIndex}` }).join('; ')
      throw new Error(`snapshots did not settle within ${maxMs} ms without writes: ${report}`)
    }
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  }
  return cluster.scheduler.now() - start
}

function expectBounded (r: BurstResult, o: BurstOptions): void {
  // A snapshot is due every `every` applied slots and its manifest is finished within half an
  // interval of applies: the lag stays under 1.5 × every plus one Ready's worth of slots.
  expect(r.maxLag).toBeLessThanOrEqual(2 * o.every)
  // The log holds the lag, the retained tail and the pipeline.
  expect(r.maxLog).toBeLessThanOrEqual(2 * o.every + o.retention + r.pipelineMax)
  for (const [id, n] of r.snapshotsDuringBurst) {
    expect(n, `${id}: snapshots during the burst`).toBeGreaterThanOrEqual(Math.floor(o.slots / o.every) - 3)
  }
}

describe('snapshots under a sustained burst (issue 7 §4)', () => {
  it('zero latency (no timer fires during the burst): snapshots keep up and settle without a later write', async () => {
    const o: BurstOptions = {
      seed: 7401,
      slots: 20_000,
      every: 1000,
      retention: 500,
      window: 256,
      cluster: { network: { delayMs: { min: 0, max: 0 } }, fsyncMs: { min: 0, max: 0 } }
    }
    const r = await burst(o)
    const { cluster } = r
    expectBounded(r, o)
    const ms = await settlesWithoutWrites(cluster, o.every, 2000)
    expect(ms).toBeLessThanOrEqual(2000)
    for (const id of cluster.ids) {
      const s = cluster.peer(id)?.status()
      expect(s?.appliedIndex).toBeGreaterThanOrEqual(o.slots)
      expect(s?.compactedThrough).toBe((s?.snapshotIndex ?? 0) - o.retention)
    }
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('a state slower to hash on clock ticks than the cluster applies: the lag stays bounded', async () => {
    // 2 MiB of state in 4 KiB chunks: 512 chunks, 32 clock ticks (320 ms) of background hashing,
    // while the cluster applies the 200 slots of one interval in about 100 ms.
    const padding = paddingBytes(2 * 1024 * 1024)
    const o: BurstOptions = {
      seed: 7402,
      slots: 6000,
      every: 200,
      retention: 100,
      window: 256,
      cluster: { snapshotChunkBytes: 4096, stateMachine: () => new PaddedKvStateMachine(padding) }
    }
    const r = await burst(o)
    expectBounded(r, o)
    await settlesWithoutWrites(r.cluster, o.every, 5000)
    expect(r.cluster.checker.violations).toEqual([])
    r.cluster.haltAll()
  })
})
