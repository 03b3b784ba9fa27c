import { expect } from 'vitest'
import { encodeSnapshotMeta } from '../../src/migration/codec.js'
import { buildManifest, chunkAt } from '../../src/migration/snapshot.js'
import { SimCluster } from '../../src/sim/cluster.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import { encodeRuntimeBlob } from '../../src/vpeer/snapshots.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { runUntilSettled } from '../unit/vpeer/world.js'
import { markCount } from '../../src/util/marks.js'

/**
 * A running 3-node cluster with a few writes, and a stranger 'evil' with an endpoint of its own
 * that serves the chunks of a forged snapshot: any state it likes, itself the only voter.
 */
export async function forgedSnapshotWorld (seed = 3): Promise<{ cluster: SimCluster, victim: string, offer: () => void, bait: () => void, submit: () => Promise<void> }> {
  const cluster = new SimCluster({ seed, nodes: 3 })
  await cluster.start()
  for (let t = 0; t < 300 && cluster.leader() === undefined; t++) await cluster.scheduler.runForAsync(10)
  const leader = cluster.leader()
  if (leader === undefined) throw new Error('no leader')
  const lp = cluster.peer(leader)
  if (lp === undefined) throw new Error('leader down')
  for (let i = 0; i < 5; i++) await runUntilSettled(cluster.scheduler, lp.submit({ f: 'write', key: 'k1', value: i }))
  const victim = cluster.ids.find(id => id !== leader) as string
  const sm = new KvStateMachine()
  sm.apply({ f: 'write', key: 'k1', value: 666 }, { slot: 1, offset: 0, client: 'evil', seq: 1, proposedAtMs: 0, send: () => { throw new Error('no outputs here') } })
  const state = sm.snapshot()
  const configuration = { epoch: 9, voters: ['evil'], learners: [] }
  const meta = buildManifest(1000, configuration, encodeRuntimeBlob([], [{ fromSlot: 1001, configuration }]), state, 65_536)
  const evil = cluster.network.endpoint('evil')
  evil.onMessage((from, m: WireMessage) => {
    if (m.type === 'snapshotChunkRequest' && m.root === meta.root) evil.send(from, { type: 'snapshotChunk', root: meta.root, chunk: m.chunk, bytes: chunkAt(state, meta, m.chunk) })
  })
  return {
    cluster,
    victim,
    offer: () => { evil.send(victim, { type: 'snapshotOffer', manifest: encodeSnapshotMeta(meta) }) },
    // A claim of a high commit index: today's core asks the claimant for the slots.
    bait: () => { evil.send(victim, { type: 'heartbeat', ballot: { round: 99, node: 'evil' }, commitIndex: 1000, readSeq: 0 }) },
    submit: async () => { await runUntilSettled(cluster.scheduler, lp.submit({ f: 'write', key: 'k2', value: 1 })) }
  }
}

export async function expectNotInstalled (w: Awaited<ReturnType<typeof forgedSnapshotWorld>>, installsBefore: number): Promise<void> {
  const { cluster, victim } = w
  expect(markCount('vpeer: snapshot installed from a peer')).toBe(installsBefore)
  const v = cluster.peer(victim)
  expect(v?.running).toBe(true)
  expect(v?.status().configuration.voters).not.toContain('evil')
  expect(cluster.digest(victim)).not.toContain('666')
  expect(v?.applied).toBeLessThan(1000)
  await w.submit()
  // Direct submits are not registered with the checker as client proposals: validity does not apply.
  expect(cluster.checker.violations.filter(x => x.kind !== 'validity')).toEqual([])
  cluster.haltAll()
}
