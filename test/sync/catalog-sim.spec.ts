/**
 * The catalog as the replicated state machine of a simulated 3-node virtual peer: binary codec
 * in the log, conflicting writers on two nodes, snapshots taken through `capture` (serialized
 * off the apply path), restarts from them and transfers of them to a lagging node. The
 * simulator's checker compares every replica's state after every slot (replica equality).
 */
import { describe, expect, it } from 'vitest'
import { SimCluster } from '../../src/sim/cluster.js'
import type { NodeId } from '../../src/paxos/index.js'
import { CatalogStateMachine } from '../../src/sync/catalog.js'
import { catalogCodec } from '../../src/sync/catalog-codec.js'
import type { CatalogAnswer, CatalogCommand, CatalogQuery, CatalogResult } from '../../src/sync/catalog-types.js'
import { chunks, put } from './catalog-fixtures.js'

type CatalogCluster = SimCluster<CatalogCommand, CatalogResult, CatalogQuery, CatalogAnswer>

async function startCluster (seed: number, snapshotEverySlots?: number): Promise<{ cluster: CatalogCluster, captures: { count: number } }> {
  const captures = { count: 0 }
  const cluster: CatalogCluster = new SimCluster<CatalogCommand, CatalogResult, CatalogQuery, CatalogAnswer>({
    seed,
    nodes: 3,
    codec: catalogCodec,
    stateMachine: () => {
      const sm = new CatalogStateMachine()
      // Count the captures the runtime takes: proof that snapshots go through `capture`.
      const capture = sm.capture.bind(sm)
      sm.capture = () => { captures.count++; return capture() }
      return sm
    },
    ...(snapshotEverySlots !== undefined ? { snapshotEverySlots, logRetentionSlots: 2, paxos: { batchCommandsMax: 1 } } : {})
  })
  await cluster.start()
  while (cluster.leader() === undefined) await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  return { cluster, captures }
}

async function settle (cluster: CatalogCluster, ms = 2000): Promise<void> {
  await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + ms)
}

const seqs = new Map<string, number>()
/** Submits as client `client` through node `via`, registered with the validity checker first. */
function submit (cluster: CatalogCluster, via: NodeId, client: string, command: CatalogCommand): Promise<CatalogResult> {
  const peer = cluster.peer(via)
  if (peer === undefined) throw new Error(`${via} is down`)
  const seq = (seqs.get(client) ?? 0) + 1
  seqs.set(client, seq)
  cluster.checker.proposedCommand({ client, seq, data: catalogCodec.encode(command) })
  return peer.submit(command, { session: { client, seq } })
}

function catalogOf (cluster: CatalogCluster, id: NodeId): CatalogStateMachine {
  return cluster.stateMachine(id) as CatalogStateMachine
}

async function run<T> (cluster: CatalogCluster, promise: Promise<T>): Promise<T> {
  let done = false
  let value: T | undefined
  let failure: unknown
  promise.then(v => { done = true; value = v }, e => { done = true; failure = e })
  for (let i = 0; i < 2000 && !done; i++) await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  if (!done) throw new Error('timed out in simulated time')
  if (failure !== undefined) throw failure
  return value as T
}

describe('catalog in a simulated 3-node virtual peer', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: two clients put the same new path concurrently: one keeps the name, the other becomes the one conflict copy, on every replica`, async () => {
      const { cluster } = await startCluster(seed)
      const pa = submit(cluster, 'n1', `hostA-${seed}`, put('shared/notes.md', 0, chunks(`a${seed}`, 3), 'hostA'))
      const pb = submit(cluster, 'n2', `hostB-${seed}`, put('shared/notes.md', 0, chunks(`b${seed}`, 2), 'hostB'))
      const [ra, rb] = await run(cluster, Promise.all([pa, pb]))
      const statuses = [ra.status, rb.status].sort()
      expect(statuses).toEqual(['conflict', 'ok'])
      const loser = ra.status === 'conflict' ? ra : rb
      await settle(cluster)
      const digests = cluster.ids.map(id => catalogOf(cluster, id).snapshot())
      for (const d of digests) expect(d).toEqual(digests[0])
      for (const id of cluster.ids) {
        const sm = catalogOf(cluster, id)
        expect(sm.conflicts().map(e => e.path)).toEqual([loser.keptAs])
        expect(sm.stats.files).toBe(2)
      }
      expect(cluster.checker.violations).toEqual([])
      cluster.haltAll()
    })
  }

  it('snapshots through capture: a node restarted from its own snapshot and a lagging node that receives one end identical', async () => {
    const { cluster, captures } = await startCluster(7, 5)
    const leader = cluster.leader() as NodeId
    const lagging = cluster.ids.find(id => id !== leader) as NodeId
    cluster.crash(lagging)
    for (let i = 0; i < 40; i++) {
      const r = await run(cluster, submit(cluster, leader, 'writer', put(`dir${i % 4}/file-${i}.bin`, 0, chunks(`f${i}`, 8, 4096), `host${i % 3}`)))
      expect(r.status).toBe('ok')
    }
    // Edits and a conflict on top.
    await run(cluster, submit(cluster, leader, 'writer', put('dir0/file-0.bin', 1, chunks('edit', 2))))
    const conflict = await run(cluster, submit(cluster, leader, 'other-writer', put('dir0/file-0.bin', 1, chunks('late', 2), 'hostZ')))
    expect(conflict.status).toBe('conflict')
    await cluster.restart(lagging)
    await settle(cluster, 5000)
    expect(cluster.snapshotInstalls).toBeGreaterThan(0)
    expect(captures.count).toBeGreaterThan(0)
    // A restart of another node from its own disk (snapshot + log above it).
    const other = cluster.ids.find(id => id !== leader && id !== lagging) as NodeId
    cluster.crash(other)
    await cluster.restart(other)
    await settle(cluster, 5000)
    const states = cluster.ids.map(id => catalogOf(cluster, id).snapshot())
    for (const s of states) expect(s).toEqual(states[0])
    for (const id of cluster.ids) {
      expect(catalogOf(cluster, id).stats).toMatchObject({ revision: 42, files: 41, conflicts: 1 })
      expect(cluster.peer(id)?.status().snapshotIndex).toBeGreaterThan(0)
    }
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })
})
