/**
 * PENDING — rename to `group-dht-idle.spec.ts` once `VirtualPeerClient` re-resolves the group
 * through the DHT. It fails today: see the end of this comment.
 *
 * The harder half of issue 10 part 6: a client that is idle while the whole VP turns over. It
 * found the members through the DHT and wrote once; then every original member is replaced for
 * good, one at a time, and the client sends nothing meanwhile, so no redirect ever tells it
 * about a new member. Its next write can only succeed if it goes back to the DHT (the group key
 * and its bootstrap peer, which it still has) when every member it knows is gone.
 *
 * (group-dht.spec.ts, where the client writes throughout, passes with the current client: each
 * kill leaves a member it knows alive, whose redirects teach it the new leader.)
 *
 * Today: every original member is dead, the client tries only them, each attempt fails at the
 * dial, and the write fails with GroupUnreachableError ("no leader answered within 30000 ms")
 * at the client's deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCluster } from '../../simulations/group-cluster.js'
import type { KvClient } from '../../simulations/group-cluster.js'

describe('an idle client that knows only the group key finds the VP again after a full turnover', () => {
  let cluster: GroupCluster
  let client: KvClient | undefined

  beforeAll(async () => {
    cluster = await GroupCluster.start({ dhtNodes: 10, voters: 5, spares: 5 })
  }, 90_000)

  afterAll(async () => {
    await client?.close()
    await cluster?.stop()
  }, 60_000)

  it('re-resolves the group key through the DHT when every member it knew is gone', async () => {
    const originals = [...cluster.originalVoters]
    client = await cluster.connectClient({ signal: AbortSignal.timeout(30_000) })
    expect(await client.submit({ f: 'write', key: 'before', value: 1 }, { signal: AbortSignal.timeout(20_000) })).toEqual({ ok: true })

    for (let k = 0; k < originals.length; k++) {
      const victim = cluster.nextOriginalVictim()
      if (victim === undefined) throw new Error('no original voter left to stop')
      await cluster.kill(victim)
      await cluster.waitForReplacement(victim, { timeoutMs: 30_000 })
    }
    const final = cluster.configuration()
    for (const id of final.voters) expect(originals).not.toContain(id)

    // The same client object, idle through the turnover: only the DHT can tell it where to go.
    expect(await client.submit({ f: 'write', key: 'after', value: 2 }, { signal: AbortSignal.timeout(30_000) })).toEqual({ ok: true })
    expect(await client.read({ key: 'before' }, { signal: AbortSignal.timeout(20_000) })).toBe(1)
    const view = await client.whenLeader({ signal: AbortSignal.timeout(20_000) })
    expect(final.voters).toContain(view.leader)
  }, 150_000)
})
