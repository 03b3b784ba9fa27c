import { describe, expect, it } from 'vitest'
import type { SimCluster } from '../../src/sim/cluster.js'
import { runRollingReplacement } from '../../src/sim/scenarios.js'
import type { RollingReplacementResult } from '../../src/sim/scenarios.js'
import type { NodeId } from '../../src/paxos/types.js'

function failures (r: RollingReplacementResult): string[] {
  return r.violations.map(v => `seed ${r.seed}: ${v.kind}: ${v.message.split('\n')[0] ?? ''}`)
}

describe('rolling replacement with snapshots and a compacted log', () => {
  // Snapshots every 30 slots keeping 5: by the time a spare joins, the log below the leader's
  // compaction point is gone, so it can only catch up by snapshot transfer.
  for (const [nodes, from] of [[3, 1], [5, 11]] as const) {
    it(`${nodes} nodes, seeds ${from}–${from + 9}: every member replaced, replacements catch up by snapshot`, async () => {
      const bad: string[] = []
      for (let seed = from; seed < from + 10; seed++) {
        const r = await runRollingReplacement({ seed, nodes, replaceAfterTicks: 100, snapshotEverySlots: 30, logRetentionSlots: 5 })
        bad.push(...failures(r))
        if (r.snapshotInstalls === 0) bad.push(`seed ${seed}: no snapshot was installed (the run did not test catch-up by snapshot)`)
        const replaced = r.timings.filter(t => t.replacement !== undefined).length
        if (replaced < nodes) bad.push(`seed ${seed}: ${replaced}/${nodes} members replaced`)
      }
      expect(bad).toEqual([])
    })
  }
})

interface Cut { readonly from: NodeId, readonly to: NodeId, readonly at: number, healedAt?: number }

/**
 * The 4th chunk the leader sends to a replacement learner cuts the learner off from every other
 * node, both ways (the chunk itself is lost with everything else on the path), for
 * `partitionMs`. (Cutting only the leader's path is not enough: a learner that stops hearing
 * the leader asks the other members, which may serve the snapshot.) The learner's
 * chunk requests time out and are asked again until the path heals; the transfer must then
 * finish (resumed, or abandoned and started over) and the replacement go through.
 */
async function partitionedTransfer (seed: number, nodes: number, partitionMs: number): Promise<{ r: RollingReplacementResult, cut: Cut | undefined, trace: string[] }> {
  let cluster: SimCluster | undefined
  let cut: Cut | undefined
  const chunksTo = new Map<NodeId, number>()
  const trace: string[] = []
  const r = await runRollingReplacement({
    seed,
    nodes,
    replaceAfterTicks: 100,
    snapshotEverySlots: 30,
    logRetentionSlots: 5,
    // 64 KiB of state in 4 KiB chunks: 17 chunks, so the cut falls in the middle of a transfer.
    stateBytes: 64 * 1024,
    snapshotChunkBytes: 4096,
    trace: line => { trace.push(line) },
    onCluster: c => { cluster = c },
    wrapTransport: (id, transport) => ({
      send: (to, message) => {
        const c = cluster
        if (c !== undefined && cut === undefined && message.type === 'snapshotChunk' && !c.bootstrapVoters.includes(to)) {
          const n = (chunksTo.get(to) ?? 0) + 1
          chunksTo.set(to, n)
          if (n === 4) {
            const made: Cut = { from: id, to, at: c.scheduler.now() }
            cut = made
            const others = c.ids.filter(o => o !== to)
            for (const o of others) { c.network.blockOneWay(o, to); c.network.blockOneWay(to, o) }
            c.trace(`test: ${to} cut off from everyone in the middle of a snapshot transfer from ${id}`)
            c.scheduler.after(partitionMs, () => {
              for (const o of others) { c.network.unblockOneWay(o, to); c.network.unblockOneWay(to, o) }
              made.healedAt = c.scheduler.now()
              c.trace(`test: ${id} and ${to} healed`)
            }, 'test.heal')
          }
        }
        transport.send(to, message)
      },
      onMessage: handler => transport.onMessage(handler)
    })
  })
  return { r, cut, trace }
}

/** Virtual ms of a trace line (`T=1.234 …`). */
function timeOf (line: string): number {
  return Number(/^T=(\d+\.\d+)/.exec(line)?.[1] ?? NaN) * 1000
}

describe('a replacement learner partitioned from the leader mid-snapshot-transfer', () => {
  for (const nodes of [3, 5]) {
    it(`${nodes} nodes: the transfer finishes after the 1 s partition heals and the replacement completes`, async () => {
      for (const seed of [1, 2, 3]) {
        const { r, cut, trace } = await partitionedTransfer(seed, nodes, 1000)
        expect(failures(r)).toEqual([])
        expect(cut, `seed ${seed}: no chunk went to a replacement learner`).toBeDefined()
        const c = cut as Cut
        expect(c.healedAt, `seed ${seed}: the partition never healed`).toBeDefined()
        // The learner got its snapshot after the heal (nothing could reach it before).
        const installs = trace.filter(l => l.includes(`${c.to} snapshot install at`)).map(timeOf)
        expect(installs.some(t => t >= (c.healedAt ?? Infinity)), `seed ${seed}: ${c.to} installed no snapshot after the heal`).toBe(true)
        expect(installs.some(t => t > c.at && t < (c.healedAt ?? 0)), `seed ${seed}: ${c.to} installed during the partition`).toBe(false)
        // …and it is the one that replaced the crashed member, with every original replaced.
        expect(r.timings.some(t => t.replacement === c.to), `seed ${seed}: ${c.to} never became a voter`).toBe(true)
        expect(r.timings.filter(t => t.replacement !== undefined)).toHaveLength(nodes)
      }
    })
  }
})
