import { SimCluster } from '../../../src/sim/cluster.js'
import type { SimMutations } from '../../../src/sim/cluster.js'
import type { KvCommand } from '../../../src/sim/kv.js'
import type { NodeId } from '../../../src/paxos/types.js'
import type { ScenarioOutcome } from './harness.js'

const enc = new TextEncoder()

/**
 * The runtime's durability rules on the full stack (VirtualPeer over MemoryStorage in the
 * simulator), with a scripted "crash right after the fsync, before the send":
 * 1. three voters elect a leader and commit a write;
 * 2. a follower crashes right after the persist that records its vote for the next write
 *    (the vote is durable, the commit is not known there yet, the `accepted` never leaves);
 * 3. it restarts 50 ms later and the group commits one more write.
 * The DurabilityChecker watches every write, send and restart: a reply sent before its write
 * was durable (`sendBeforePersist`), or a restart that lost the durable promise
 * (`forgetPromiseOnRestart`) or votes (`forgetVotesOnRestart`), is a violation at once,
 * whether or not this schedule goes on to choose two values.
 */
export async function crashAfterPersistAndRestart (mutations: SimMutations): Promise<ScenarioOutcome> {
  let armed: NodeId | undefined
  let crashedAt: number | undefined
  const cluster = new SimCluster({
    seed: 11,
    nodes: 3,
    mutations,
    crashAfterPersist: (id, batch) => {
      if (id !== armed || batch.entries.length === 0) return false
      armed = undefined
      crashedAt = Math.max(...batch.entries.map(([slot]) => slot))
      return true
    }
  })
  const checkpoints: Array<{ label: string, ok: boolean }> = []
  const writes = new Map<string, boolean>()
  let seq = 0
  const write = (via: NodeId, key: string): void => {
    const command: KvCommand = { f: 'write', key, value: ++seq }
    const session = { client: 'script', seq }
    cluster.checker.proposedCommand({ client: session.client, seq: session.seq, data: enc.encode(JSON.stringify(command)) })
    writes.set(key, false)
    cluster.peer(via)?.submit(command, { session }).then(() => { writes.set(key, true) }, () => {})
  }
  const runUntil = async (done: () => boolean, maxMs: number): Promise<boolean> => {
    const end = cluster.scheduler.now() + maxMs
    while (!done() && cluster.scheduler.now() < end) await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 10)
    return done()
  }

  await cluster.start()
  checkpoints.push({ label: 'a leader was elected', ok: await runUntil(() => cluster.leader() !== undefined, 3000) })
  const leader = cluster.leader() ?? 'n1'
  write(leader, 'k1')
  checkpoints.push({ label: 'the first write committed', ok: await runUntil(() => writes.get('k1') === true, 3000) })
  const follower = cluster.ids.find(id => id !== leader) as NodeId
  armed = follower
  write(leader, 'k2')
  checkpoints.push({ label: 'the follower crashed right after persisting its vote', ok: await runUntil(() => !cluster.isUp(follower), 3000) })
  await cluster.scheduler.runUntilAsync(cluster.scheduler.now() + 50)
  await cluster.restart(follower)
  write(cluster.leader() ?? leader, 'k3')
  checkpoints.push({ label: 'the writes after the restart committed', ok: await runUntil(() => writes.get('k2') === true && writes.get('k3') === true, 5000) })
  cluster.haltAll()
  return { violations: [...cluster.checker.violations], notes: [`${follower} crashed after durably voting for slot ${crashedAt ?? '?'}`], checkpoints }
}
