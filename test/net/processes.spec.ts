/**
 * Member processes on 127.0.0.1 (`vpeer node`, LevelDB, libp2p), driven from outside as an
 * operator would: kill -9, SIGSTOP/SIGCONT, a spare replacing a dead member, strangers and
 * hostile frames.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { frameAll } from '../../src/alm/frames.js'
import { generateIdentity, readIdentity } from '../../src/alm/identity.js'
import { PAXOS_PROTOCOL } from '../../src/alm/libp2p-transport.js'
import { createVpeerNode } from '../../src/alm/node-factory.js'
import { encodeWireMessage } from '../../src/alm/wire-codec.js'
import type { VirtualPeerClient } from '../../src/net/client.js'
import { CLIENT_PROTOCOL } from '../../src/net/client-protocol.js'
import { dialAddresses } from '../../src/net/cluster-spec.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import { ProcessCluster } from '../../simulations/process-cluster.js'

type Client = VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>

async function until (what: string, predicate: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function errorOf (p: Promise<unknown>): Promise<{ code?: string, message: string }> {
  try {
    await p
  } catch (error) {
    return error as { code?: string, message: string }
  }
  throw new Error('expected a rejection')
}

/** Keeps writing distinct keys; remembers what was acknowledged and when. */
function writer (client: Client, prefix: string): { acked: Map<string, number>, times: number[], stop: () => Promise<void> } {
  const acked = new Map<string, number>()
  const times: number[] = []
  let running = true
  let i = 0
  const loop = (async () => {
    while (running) {
      const key = `${prefix}${i}`
      const value = i++
      try {
        await client.submit({ f: 'write', key, value }, { signal: AbortSignal.timeout(10_000) })
        acked.set(key, value)
        times.push(Date.now())
      } catch {
        await sleep(20)
      }
    }
  })()
  return { acked, times, stop: async () => { running = false; await loop } }
}

describe('member processes on 127.0.0.1', () => {
  let cluster: ProcessCluster | undefined
  const clients: Client[] = []
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close()
    await cluster?.close()
    cluster = undefined
  })

  async function client (identity?: Awaited<ReturnType<typeof generateIdentity>>): Promise<Client> {
    const c = await (cluster as ProcessCluster).client<KvCommand, KvResult, KvQuery, KvAnswer>(identity !== undefined ? { identity } : {})
    clients.push(c)
    return c
  }

  it('kill -9 of the leader: a new leader commits; the killed member restarts from LevelDB and catches up', async () => {
    cluster = await ProcessCluster.create({ members: 3 })
    await cluster.startAll()
    const c = await client()
    const first = await c.whenLeader()
    for (let i = 0; i < 30; i++) await c.submit({ f: 'write', key: `k${i}`, value: i })
    const victim = cluster.node(first.leader as string)
    await cluster.kill(victim.name)
    await c.submit({ f: 'write', key: 'after', value: 1 }, { signal: AbortSignal.timeout(20_000) })
    const second = await c.whenLeader()
    expect(second.leader).not.toBe(victim.id)
    await cluster.start(victim.name)
    await until('the restarted member to catch up', async () => (await c.info({ member: victim.id })).applied >= second.applied)
    for (let i = 0; i < 30; i++) expect(await c.read({ key: `k${i}` })).toBe(i)
    expect(await c.read({ key: 'after' })).toBe(1)
  }, 90_000)

  it('a member killed for good is replaced by a spare, which receives the snapshot; the group commits throughout', async () => {
    cluster = await ProcessCluster.create({ members: 3, spares: 1, nodeArgs: ['--snapshot-every', '20', '--log-retention', '5', '--replace-after-ms', '1500'] })
    await cluster.startAll(() => true)
    const c = await client()
    const view = await c.whenLeader()
    for (let i = 0; i < 60; i++) await c.submit({ f: 'write', key: `base${i}`, value: i })
    const w = writer(c, 'during')
    const victim = cluster.nodes.find(n => n.role === 'voter' && n.id !== view.leader)
    const spare = cluster.nodes.find(n => n.role === 'spare')
    if (victim === undefined || spare === undefined) throw new Error('cluster shape')
    const killedAt = Date.now()
    await cluster.kill(victim.name)
    await until('the spare to replace the dead voter', async () => {
      const v = await c.whenLeader()
      return v.voters.includes(spare.id) && !v.voters.includes(victim.id)
    }, 60_000)
    await sleep(500)
    await w.stop()
    const leaderView = await c.whenLeader()
    await until('the new member to catch up', async () => (await c.info({ member: spare.id })).applied >= leaderView.applied)
    // It got the state by snapshot over the snapshot protocol (the log below the snapshots is gone).
    expect(cluster.logsOf(spare.name, 'snapshot received').length).toBeGreaterThan(0)
    expect(cluster.logsOf(spare.name, 'membership changed').length).toBeGreaterThan(0)
    // The group kept committing: no gap of more than a few seconds between acknowledged writes.
    const during = [killedAt, ...w.times.filter(t => t >= killedAt)]
    const gaps = during.slice(1).map((t, i) => t - (during[i] as number))
    expect(w.acked.size).toBeGreaterThan(20)
    expect(Math.max(...gaps)).toBeLessThan(5000)
    for (const [key, value] of w.acked) expect(await c.read({ key })).toBe(value)
    for (let i = 0; i < 60; i += 7) expect(await c.read({ key: `base${i}` })).toBe(i)
  }, 120_000)

  it('SIGSTOP of the leader for 3 s: another leader takes over, the old one steps down, nothing acknowledged is lost', async () => {
    cluster = await ProcessCluster.create({ members: 3 })
    await cluster.startAll()
    const c = await client()
    const first = await c.whenLeader()
    const old = cluster.node(first.leader as string)
    const w = writer(c, 'w')
    await until('some writes', () => w.acked.size >= 10)
    await cluster.signal(old.name, 'SIGSTOP')
    const pausedAt = Date.now()
    const before = w.acked.size
    await until('another leader to commit while the old one is paused', async () => {
      const v = await c.whenLeader()
      return v.leader !== old.id && w.acked.size > before + 5
    }, 20_000)
    await sleep(Math.max(0, 3000 - (Date.now() - pausedAt)))
    await cluster.signal(old.name, 'SIGCONT')
    // The old leader learns it was deposed and says so.
    await until('the old leader to step down', () => {
      const lines = cluster?.node(old.name).logs.filter(l => l.msg === 'leadership changed') ?? []
      const last = lines[lines.length - 1]
      return last !== undefined && last.role !== 'leader' && (lines.length > 1)
    }, 20_000)
    await sleep(500)
    await w.stop()
    for (const [key, value] of w.acked) expect(await c.read({ key })).toBe(value)
    // The resumed member has every acknowledged write too.
    const view = await c.whenLeader()
    await until('the resumed member to catch up', async () => (await c.info({ member: old.id })).applied >= view.applied)
  }, 90_000)

  it('access control: strangers cannot speak Paxos; clients need the allow-list, which the admins change through the log', async () => {
    cluster = await ProcessCluster.create({ members: 3 })
    await cluster.startAll()
    const admin = await client()
    const view = await admin.whenLeader()
    const leader = cluster.node(view.leader as string)

    // A peer outside the configuration tries to take over with a high ballot: its stream is refused.
    const strangerId = await generateIdentity()
    const stranger = await createVpeerNode({ privateKey: strangerId.privateKey, listen: [] })
    try {
      for (const n of cluster.nodes) {
        try {
          const stream = await stranger.dialProtocol(multiaddr(dialAddresses(cluster.init.spec, n.id)[0] as string), PAXOS_PROTOCOL)
          stream.send(frameAll([encodeWireMessage({ type: 'prepare', ballot: { round: 1_000_000, node: strangerId.id }, fromSlot: 1, transfer: true })]))
        } catch {}
      }
      await until('every member to refuse the stranger', () => cluster?.nodes.every(n => cluster?.logsOf(n.name, 'stream refused').some(l => l.peer === strangerId.id)) === true, 10_000)
    } finally {
      await stranger.stop()
    }
    expect((await admin.whenLeader()).leader).toBe(leader.id)
    await admin.submit({ f: 'write', key: 'x', value: 1 })

    // A client not on the list is refused by every member.
    const outsiderId = await generateIdentity()
    const outsider = await client(outsiderId)
    expect((await errorOf(outsider.submit({ f: 'write', key: 'x', value: 2 }))).code).toBe('ERR_ACCESS_REFUSED')
    for (const n of cluster.nodes) expect((await errorOf(outsider.info({ member: n.id }))).code).toBe('ERR_ACCESS_REFUSED')
    // A non-admin cannot change the list.
    await admin.allow(outsiderId.id)
    await until('every member to admit the client', async () => {
      for (const n of cluster?.nodes ?? []) {
        try { await outsider.info({ member: n.id }) } catch { return false }
      }
      return true
    })
    expect(await outsider.submit({ f: 'write', key: 'x', value: 3 })).toEqual({ ok: true })
    const third = await generateIdentity()
    expect((await errorOf(outsider.allow(third.id))).code).toBe('ERR_NOT_ADMIN')
    // Revoked: refused everywhere once the revoke has applied.
    await admin.revoke(outsiderId.id)
    expect((await errorOf(outsider.submit({ f: 'write', key: 'x', value: 4 }))).code).toBe('ERR_ACCESS_REFUSED')
    await until('every member to refuse the revoked client', async () => {
      for (const n of cluster?.nodes ?? []) {
        const e = await errorOf(outsider.info({ member: n.id })).catch(() => ({ code: 'none', message: '' }))
        if (e.code !== 'ERR_ACCESS_REFUSED') return false
      }
      return true
    })
    expect(await admin.read({ key: 'x' })).toBe(3)
  }, 90_000)

  it('malformed, truncated and oversized frames close that stream with a logged reason; the node keeps serving', async () => {
    cluster = await ProcessCluster.create({ members: 3 })
    await cluster.startAll()
    const admin = await client()
    await admin.whenLeader()
    // Speak as m3 (its key is in the folder) while m3 is down: a member, so access control admits it.
    const m3 = cluster.node('m3')
    await cluster.signal('m3', 'SIGTERM')
    const m1 = cluster.node('m1')
    const impostor = await createVpeerNode({ privateKey: (await readIdentity(`${m3.dir}/identity.key`)).privateKey, listen: [] })
    const adminNode = await createVpeerNode({ privateKey: (await admin.close(), (await cluster.adminIdentity()).privateKey), listen: [] })
    clients.splice(clients.indexOf(admin), 1)
    try {
      const target = multiaddr(dialAddresses(cluster.init.spec, m1.id)[0] as string)
      const attacks: Array<[string, Uint8Array, boolean]> = [
        ['oversized', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), false],
        ['malformed', frameAll([Uint8Array.of(1, 0xee, 1, 2, 3)]), false],
        ['truncated', Uint8Array.of(50, 1, 2, 3), true]
      ]
      for (const [name, bytes, close] of attacks) {
        const before = cluster.logsOf('m1', 'bad frame').length
        const stream = await impostor.dialProtocol(target, PAXOS_PROTOCOL)
        stream.send(bytes)
        if (close) await stream.close()
        await until(`m1 to log the ${name} frame`, () => cluster?.logsOf('m1', 'bad frame').length === before + 1, 10_000)
      }
      // The client protocol too.
      const before = cluster.logsOf('m1', 'client stream closed').length
      const cs = await adminNode.dialProtocol(target, CLIENT_PROTOCOL)
      cs.send(frameAll([Uint8Array.of(1, 77, 0)]))
      await until('m1 to log the bad client frame', () => cluster?.logsOf('m1', 'client stream closed').length === before + 1, 10_000)
      const reasons = cluster.logsOf('m1', 'bad frame').map(l => JSON.stringify(l.err))
      expect(reasons.join('\n')).toMatch(/exceeds the limit/)
      expect(reasons.join('\n')).toMatch(/truncated/)
    } finally {
      await impostor.stop()
      await adminNode.stop()
    }
    // Still serving.
    const fresh = await client()
    await fresh.submit({ f: 'write', key: 'still', value: 1 }, { signal: AbortSignal.timeout(20_000) })
    expect(await fresh.read({ key: 'still' })).toBe(1)
  }, 90_000)
})
