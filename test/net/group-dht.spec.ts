/**
 * Issue 10 part 6, the DHT side: a virtual peer of 5 inside one private DHT of 20 nodes on
 * 127.0.0.1 (10 plain nodes, the 5 voters, 5 spares, all in this process:
 * simulations/group-cluster.ts), found by clients that know only the group key and the address
 * of one plain node.
 *
 * Every original voter is replaced for good, one at a time (the leader last), by a spare the
 * leader takes from the pool; after each replacement a FRESH client, given only the key and a
 * bootstrap address, finds the new member set through the DHT and writes. At the end no voter
 * is an original one, and a last fresh client reads back every write.
 *
 * The same long-lived client following the whole turnover is group-dht-follow.pending.ts (it
 * needs the client to go back to the DHT, which it does not do yet).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCluster } from '../../simulations/group-cluster.js'
import type { KvClient } from '../../simulations/group-cluster.js'

describe('a VP of 5 in a private DHT of 20, reached by its group key alone', () => {
  let cluster: GroupCluster
  const clients: KvClient[] = []

  beforeAll(async () => {
    cluster = await GroupCluster.start({ dhtNodes: 10, voters: 5, spares: 5 })
  }, 90_000)

  afterAll(async () => {
    for (const c of clients) await c.close()
    await cluster?.stop()
  }, 60_000)

  /** A client that knows only the group key and one plain node's address. */
  async function fresh (): Promise<KvClient> {
    const bootstrap = cluster.bootstrapAddress()
    const ids = cluster.list().filter(n => n.role !== 'dht').map(n => n.id)
    expect(ids.some(id => bootstrap.endsWith(`/p2p/${id}`))).toBe(false)
    const client = await cluster.connectClient({ bootstrap, signal: AbortSignal.timeout(30_000) })
    clients.push(client)
    return client
  }

  it('is one DHT of 20 with populated routing tables, and the bootstrap peer is no member', () => {
    expect(cluster.size).toBe(20)
    const roles = cluster.list().map(n => n.role)
    expect(roles.filter(r => r === 'dht')).toHaveLength(10)
    expect(roles.filter(r => r === 'voter')).toHaveLength(5)
    expect(roles.filter(r => r === 'spare')).toHaveLength(5)
    // Every node knows at least 8 others: a lookup from the bootstrap walks the DHT.
    expect(cluster.startup?.routingTables.min).toBeGreaterThanOrEqual(8)
    expect(cluster.routingTables().min).toBeGreaterThanOrEqual(8)
    expect(cluster.configuration().voters).toEqual(cluster.originalVoters)
  })

  it('every original voter replaced for good, one at a time; after each change a fresh key-only client finds the new members and writes', async () => {
    const originals = [...cluster.originalVoters]
    let written = 0
    const first = await fresh()
    expect(await first.submit({ f: 'write', key: 'k0', value: 0 }, { signal: AbortSignal.timeout(20_000) })).toEqual({ ok: true })
    written++

    for (let k = 0; k < originals.length; k++) {
      const victim = cluster.nextOriginalVictim()
      if (victim === undefined) throw new Error('no original voter left to stop')
      await cluster.kill(victim)
      const c = await cluster.waitForReplacement(victim, { timeoutMs: 30_000 })
      expect(c.voters).not.toContain(victim)
      const client = await fresh()
      const view = await client.whenLeader({ signal: AbortSignal.timeout(20_000) })
      expect([...view.voters].sort()).toEqual([...c.voters].sort())
      expect(await client.submit({ f: 'write', key: `k${written}`, value: written }, { signal: AbortSignal.timeout(20_000) })).toEqual({ ok: true })
      written++
    }

    const final = cluster.configuration()
    expect(final.voters).toHaveLength(5)
    for (const id of final.voters) expect(originals).not.toContain(id)
    for (const id of originals) expect(cluster.list().find(n => n.id === id)?.alive).toBe(false)
    const last = await fresh()
    const view = await last.whenLeader({ signal: AbortSignal.timeout(20_000) })
    expect(final.voters).toContain(view.leader)
    for (let i = 0; i < written; i++) expect(await last.read({ key: `k${i}` }, { signal: AbortSignal.timeout(20_000) })).toBe(i)
  }, 150_000)
})
