import { describe, it, expect, beforeEach } from 'vitest'
import { SimCluster } from '../../../src/sim/cluster.js'
import type { SimClusterOptions } from '../../../src/sim/cluster.js'
import { KvStateMachine } from '../../../src/sim/kv.js'
import type { KvCommand } from '../../../src/sim/kv.js'
import type { NodeId } from '../../../src/paxos/index.js'
import type { Transport } from '../../../src/contracts/index.js'
import type { WireMessage } from '../../../src/vpeer/snapshot-transfer.js'
import { decodeRuntimeBlob, encodeRuntimeBlob } from '../../../src/vpeer/snapshots.js'
import { CorruptSnapshotError } from '../../../src/migration/errors.js'
import { markCount, resetMarks } from '../../../src/util/marks.js'

const enc = new TextEncoder()

async function until (cluster: SimCluster, cond: () => boolean, maxMs: number, what: string): Promise<void> {
  const deadline = cluster.scheduler.now() + maxMs
  while (!cond()) {
    if (cluster.scheduler.now() >= deadline) throw new Error(`timed out waiting for ${what}`)
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
  }
}

/** Submits writes through `via` as client `client`, registering each with the validity checker. */
function submitWrites (cluster: SimCluster, via: NodeId, client: string, from: number, to: number): Array<Promise<unknown>> {
  const peer = cluster.peer(via)
  if (peer === undefined) throw new Error(`${via} is down`)
  const out: Array<Promise<unknown>> = []
  for (let seq = from; seq <= to; seq++) {
    const command: KvCommand = { f: 'write', key: `k${seq % 7}`, value: seq }
    cluster.checker.proposedCommand({ client, seq, data: enc.encode(JSON.stringify(command)) })
    out.push(peer.submit(command, { session: { client, seq } }))
  }
  return out
}

async function settleAll (cluster: SimCluster, promises: Array<Promise<unknown>>, maxMs: number): Promise<void> {
  let done = 0
  const tracked = promises.map(async p => { await p; done++ })
  await until(cluster, () => done === promises.length, maxMs, `${promises.length} writes`)
  await Promise.all(tracked)
}

async function startCluster (options: Partial<SimClusterOptions> & { seed: number }): Promise<{ cluster: SimCluster, leader: NodeId }> {
  const cluster = new SimCluster({ nodes: 3, tickMs: 10, paxos: { batchCommandsMax: 1 }, snapshotEverySlots: 50, logRetentionSlots: 10, ...options })
  await cluster.start()
  await until(cluster, () => cluster.leader() !== undefined, 5000, 'a leader')
  return { cluster, leader: cluster.leader() as NodeId }
}

function followerOf (cluster: SimCluster, leader: NodeId): NodeId {
  return cluster.ids.find(id => id !== leader) as NodeId
}

async function converged (cluster: SimCluster, maxMs: number): Promise<void> {
  await until(cluster, () => {
    const applied = cluster.ids.map(id => cluster.peer(id)?.applied ?? -1)
    const digests = new Set(cluster.ids.map(id => cluster.digest(id)))
    return applied.every(a => a === applied[0] && a > 0) && digests.size === 1
  }, maxMs, 'convergence')
}

beforeEach(() => { resetMarks() })

describe('runtime snapshot blob', () => {
  it('round-trips sessions and configurations and refuses garbage with CorruptSnapshotError', () => {
    const configs = [{ fromSlot: 1, configuration: { epoch: 1, voters: ['a', 'b'], learners: [] } }, { fromSlot: 40, configuration: { epoch: 2, voters: ['a', 'c'], learners: [] } }]
    const sessions: Array<[string, number, Array<[number, { ok: true, result: number }]>, number]> = [['c1', 3, [[3, { ok: true, result: 7 }]], 1500]]
    const sessionExpiry = { clockMs: 2000, tombstones: [['gone', 1200]] as Array<[string, number]> }
    const blob = decodeRuntimeBlob<number>(encodeRuntimeBlob(sessions, configs, sessionExpiry))
    expect(blob).toEqual({ sessions, configs, sessionExpiry })
    // Version 1 (before session expiry): entries without an activity time, no clock.
    const v1 = [['c1', 3, [[3, { ok: true, result: 7 }]]]]
    expect(decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 1, sessions: v1, configs })))).toEqual({ sessions: v1, configs, sessionExpiry: { clockMs: 0, tombstones: [] } })
    const v2 = (extra: Record<string, unknown>): Uint8Array => enc.encode(JSON.stringify({ v: 2, sessions, configs, sessionClock: 2000, tombstones: [], ...extra }))
    expect(() => decodeRuntimeBlob(v2({ sessions: v1 }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v2({ sessionClock: -1 }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v2({ tombstones: [['x', 2001]] }))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(v2({ tombstones: [['x']] }))).toThrow(CorruptSnapshotError)
    expect(decodeRuntimeBlob(v2({ tombstones: [['x', 2000]] })).sessionExpiry.tombstones).toEqual([['x', 2000]])
    expect(() => decodeRuntimeBlob(enc.encode('nope'))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 1, sessions: [], configs: [] })))).toThrow(CorruptSnapshotError)
    expect(() => decodeRuntimeBlob(enc.encode(JSON.stringify({ v: 9, sessions: [], configs })))).toThrow(CorruptSnapshotError)
  })
})

describe('VirtualPeer snapshots over the simulator', () => {
  it('a follower that was down while 300 writes committed receives the snapshot and converges', async () => {
    const { cluster, leader } = await startCluster({ seed: 101 })
    const lagger = followerOf(cluster, leader)
    cluster.crash(lagger)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 300), 60_000)
    await until(cluster, () => (cluster.peer(leader)?.status().snapshotIndex ?? 0) >= 250, 2000, 'a snapshot at ≥ 250')
    const lead = cluster.peer(leader)!.status()
    expect(lead.compactedThrough).toBe(lead.snapshotIndex - 10)
    expect(markCount('vpeer: snapshot taken')).toBeGreaterThan(0)

    await cluster.restart(lagger)
    await converged(cluster, 10_000)
    expect(markCount('learner: catch-up below the compaction point, snapshot needed')).toBeGreaterThan(0)
    expect(cluster.peer(lagger)!.snapshotTransfer.stats.installs).toBeGreaterThanOrEqual(1)
    expect(cluster.peer(lagger)!.status().snapshotIndex).toBeGreaterThanOrEqual(250)
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('a restart after a snapshot restores the state from it without replaying compacted slots', async () => {
    const { cluster, leader } = await startCluster({ seed: 102 })
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 120), 60_000)
    const id = followerOf(cluster, leader)
    await until(cluster, () => (cluster.peer(id)?.status().snapshotIndex ?? 0) >= 100, 2000, 'a follower snapshot')
    const before = cluster.peer(id)!.status()
    cluster.crash(id)
    const slotsBefore = cluster.checker.slotsApplied
    await cluster.restart(id)
    const after = cluster.peer(id)!.status()
    // The state machine starts from the snapshot; only the slots above it are replayed (start()
    // already handed them out synchronously).
    expect(after.snapshotIndex).toBe(before.snapshotIndex)
    expect(after.compactedThrough).toBe(before.snapshotIndex)
    expect(cluster.checker.slotsApplied - slotsBefore).toBe(after.appliedIndex - before.snapshotIndex)
    expect(after.appliedIndex - before.snapshotIndex).toBeLessThan(50)
    expect(after.commitIndex).toBeGreaterThanOrEqual(before.snapshotIndex)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 121, 130), 30_000)
    await converged(cluster, 10_000)
    // The integrity checker would flag any slot ≤ the snapshot applied by the new incarnation.
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('a chunk corrupted in flight is rejected and asked for again; the install still succeeds', async () => {
    let corrupted = 0
    const wrap = (_id: NodeId, t: Transport<WireMessage>): Transport<WireMessage> => ({
      send: (to, m) => {
        if (m.type === 'snapshotChunk' && corrupted === 0 && m.bytes.byteLength > 0) {
          corrupted++
          // A copy: the sender's bytes are a view of its snapshot and must stay intact.
          const bytes = new Uint8Array(m.bytes)
          bytes[0] = (bytes[0] as number) ^ 0xff
          t.send(to, { ...m, bytes })
          return
        }
        t.send(to, m)
      },
      onMessage: handler => t.onMessage(handler)
    })
    const { cluster, leader } = await startCluster({ seed: 103, wrapTransport: wrap, snapshotChunkBytes: 64 })
    const lagger = followerOf(cluster, leader)
    cluster.crash(lagger)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 120), 60_000)
    await until(cluster, () => (cluster.peer(leader)?.status().snapshotIndex ?? 0) >= 100, 2000, 'a snapshot')
    await cluster.restart(lagger)
    await converged(cluster, 10_000)
    expect(corrupted).toBe(1)
    expect(markCount('vpeer: corrupt snapshot chunk re-requested')).toBe(1)
    expect(cluster.peer(lagger)!.snapshotTransfer.stats.corruptChunks).toBe(1)
    expect(cluster.peer(lagger)!.snapshotTransfer.stats.installs).toBeGreaterThanOrEqual(1)
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('lost chunks are asked for again after the chunk timeout', async () => {
    let dropped = 0
    const wrap = (_id: NodeId, t: Transport<WireMessage>): Transport<WireMessage> => ({
      send: (to, m) => {
        if (m.type === 'snapshotChunk' && dropped < 6) {
          dropped++
          return
        }
        t.send(to, m)
      },
      onMessage: handler => t.onMessage(handler)
    })
    const { cluster, leader } = await startCluster({ seed: 106, wrapTransport: wrap, snapshotChunkBytes: 64 })
    const lagger = followerOf(cluster, leader)
    cluster.crash(lagger)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 120), 60_000)
    await until(cluster, () => (cluster.peer(leader)?.status().snapshotIndex ?? 0) >= 100, 2000, 'a snapshot')
    await cluster.restart(lagger)
    await converged(cluster, 10_000)
    expect(dropped).toBe(6)
    expect(markCount('vpeer: snapshot chunk request timed out, asked again')).toBeGreaterThanOrEqual(1)
    // The transfer in progress completes even if newer snapshots are taken meanwhile (the sender
    // keeps it while it is fetched); a second, newer one may follow if the log moved on.
    expect(cluster.peer(lagger)!.snapshotTransfer.stats.installs).toBeGreaterThanOrEqual(1)
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('a crash during the install (before the storage sync) leaves the old state; a later transfer succeeds', async () => {
    let cluster: SimCluster | undefined
    let crashedDuringInstall: NodeId | undefined
    const trace = (line: string): void => {
      const m = / (\S+) snapshot install at (\d+)/.exec(line)
      if (m === null || crashedDuringInstall !== undefined || cluster === undefined) return
      crashedDuringInstall = m[1] as NodeId
      // Synchronously, while the install's write is queued but not synced.
      cluster.crash(crashedDuringInstall)
    }
    const started = await startCluster({ seed: 104, trace, fsyncMs: { min: 2, max: 4 } })
    cluster = started.cluster
    const leader = started.leader
    const lagger = followerOf(cluster, leader)
    cluster.crash(lagger)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 120), 60_000)
    await until(cluster, () => (cluster?.peer(leader)?.status().snapshotIndex ?? 0) >= 100, 2000, 'a snapshot')
    await cluster.restart(lagger)
    await until(cluster, () => crashedDuringInstall !== undefined, 5000, 'the install to start')
    expect(crashedDuringInstall).toBe(lagger)
    expect(cluster.isUp(lagger)).toBe(false)
    await cluster.restart(lagger)
    // The old state: no snapshot, nothing applied beyond what its log had.
    expect(cluster.peer(lagger)!.status().snapshotIndex).toBe(0)
    expect(cluster.peer(lagger)!.status().appliedIndex).toBeLessThan(100)
    await converged(cluster, 10_000)
    expect(cluster.peer(lagger)!.snapshotTransfer.stats.installs).toBe(1)
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  })

  it('the leader keeps committing while a 2 MiB snapshot is built and streamed', async () => {
    const BALLAST = 2 * 1024 * 1024
    const ballast = new Uint8Array(BALLAST)
    for (let i = 0; i < BALLAST; i++) ballast[i] = (i * 31 + 7) & 0xff
    class BigKv extends KvStateMachine {
      override snapshot (): Uint8Array {
        const small = super.snapshot()
        const out = new Uint8Array(BALLAST + small.byteLength)
        out.set(ballast, 0)
        out.set(small, BALLAST)
        return out
      }

      override restore (bytes: Uint8Array): void {
        super.restore(bytes.subarray(BALLAST))
      }
    }
    const marks: { start?: number, install?: number } = {}
    let cluster: SimCluster | undefined
    const trace = (line: string): void => {
      if (cluster === undefined) return
      const commit = (): number => cluster?.peer(cluster.leader() ?? '')?.status().commitIndex ?? 0
      if (marks.start === undefined && / receiving snapshot at /.test(line)) marks.start = commit()
      if (marks.install === undefined && / snapshot install at /.test(line)) marks.install = commit()
    }
    const started = await startCluster({ seed: 105, trace, snapshotEverySlots: 40, stateMachine: () => new BigKv() })
    cluster = started.cluster
    const leader = started.leader
    const lagger = followerOf(cluster, leader)
    cluster.crash(lagger)
    await settleAll(cluster, submitWrites(cluster, leader, 'w', 1, 60), 60_000)
    await until(cluster, () => (cluster?.peer(leader)?.status().snapshotIndex ?? 0) >= 40, 2000, 'a snapshot')
    expect(cluster.peer(leader)!.status().snapshotIndex).toBeGreaterThanOrEqual(40)

    // A steady writer runs while the lagging follower fetches the 2 MiB snapshot.
    let stop = false
    let seq = 1000
    const c = cluster
    const writer = (async () => {
      while (!stop) await settleAllQuiet(c, submitWrites(c, leader, 'bg', ++seq, seq))
    })()
    await cluster.restart(lagger)
    await until(cluster, () => marks.install !== undefined && (cluster?.peer(lagger)?.snapshotTransfer.stats.installs ?? 0) > 0, 20_000, 'the install')
    stop = true
    await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 500)
    await writer
    expect(marks.start).toBeDefined()
    expect((marks.install as number) - (marks.start as number)).toBeGreaterThan(0)
    const received = cluster.peer(lagger)!.snapshotTransfer.stats.chunksReceived
    expect(received).toBeGreaterThanOrEqual(32)
    await converged(cluster, 10_000)
    expect(cluster.checker.violations).toEqual([])
    cluster.haltAll()
  }, 60_000)
})

/** Awaits writes without driving the scheduler (the test drives it). */
async function settleAllQuiet (_cluster: SimCluster, promises: Array<Promise<unknown>>): Promise<void> {
  await Promise.all(promises)
}
