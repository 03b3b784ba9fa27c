import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateIdentity, readIdentity } from '../../src/alm/identity.js'
import { createVpeerNode } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { VirtualPeerClient } from '../../src/net/client.js'
import { groupKey, parseGroupKey } from '../../src/net/group-key.js'
import { initCluster } from '../../src/net/init.js'
import { Member } from '../../src/net/member.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'

type Kv = Member<KvCommand, KvResult, KvQuery, KvAnswer>

describe('the group address in the DHT', () => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

  it('is derived from the genesis: same spec, same key; another name or voter set, another key', async () => {
    const base = { group: 'g', voters: ['12D3KooWA', '12D3KooWB'], admins: ['12D3KooWC'] }
    const k = await groupKey(base)
    expect((await groupKey({ ...base })).equals(k)).toBe(true)
    expect((await groupKey({ ...base, group: 'h' })).equals(k)).toBe(false)
    expect((await groupKey({ ...base, voters: ['12D3KooWA', '12D3KooWX'] })).equals(k)).toBe(false)
    expect(parseGroupKey(k.toString()).equals(k)).toBe(true)
    expect(() => parseGroupKey('not a cid')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_GROUP_KEY' }))
  })

  it('a client that knows only the group key and one DHT peer finds the members and writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpeer-group-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const cluster = await initCluster({ dir, members: 3, spares: 0 })
    const members: Kv[] = []
    cleanup.push(async () => { for (const m of members) await m.stop() })
    for (const n of cluster.nodes) {
      members.push(await Member.start<KvCommand, KvResult, KvQuery, KvAnswer>({
        identity: await readIdentity(join(n.dir, 'identity.key')),
        dataDir: n.dir,
        cluster: cluster.spec,
        stateMachine: new KvStateMachine(),
        dht: true,
        provideEveryMs: 1000
      }))
    }
    // Two more DHT peers that are not members: the client knows only one of them.
    const others: VpeerLibp2p[] = []
    cleanup.push(async () => { for (const o of others) await o.stop() })
    for (let i = 0; i < 2; i++) {
      const node = await createVpeerNode({ privateKey: (await generateIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], dht: 'server' })
      others.push(node)
      for (const m of members) await node.dial(m.node.getMultiaddrs()[0] as never)
    }
    const key = (await groupKey(cluster.spec)).toString()
    const client = await VirtualPeerClient.connect<KvCommand, KvResult, KvQuery, KvAnswer>({
      group: key,
      bootstrap: [others[1]?.getMultiaddrs()[0]?.toString() as string],
      identity: await readIdentity(cluster.adminKey),
      signal: AbortSignal.timeout(30_000)
    })
    cleanup.push(async () => { await client.close() })
    const signal = AbortSignal.timeout(20_000)
    expect(await client.submit({ f: 'write', key: 'x', value: 1 }, { signal })).toEqual({ ok: true })
    expect(await client.read({ key: 'x' }, { signal })).toBe(1)
    const view = await client.whenLeader({ signal })
    expect(members.map(m => m.id)).toContain(view.leader)
  }, 60_000)

  it('connect fails with a typed error when no bootstrap peer answers', async () => {
    const key = (await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })).toString()
    await expect(VirtualPeerClient.connect({ group: key, bootstrap: ['/ip4/127.0.0.1/tcp/9/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'], signal: AbortSignal.timeout(5000) }))
      .rejects.toMatchObject({ code: 'ERR_GROUP_UNREACHABLE' })
  }, 20_000)
})
