import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApplyContext, StateMachine } from '../../src/contracts/index.js'
import { generateIdentity, readIdentity } from '../../src/alm/identity.js'
import { createVpeerNode, parseMultiaddr } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { FrameStream } from '../../src/alm/frame-stream.js'
import { VirtualPeerClient } from '../../src/net/client.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeResponse, encodeRequest } from '../../src/net/client-protocol.js'
import type { ClientResponse } from '../../src/net/client-protocol.js'
import { groupKey } from '../../src/net/group-key.js'
import { initCluster } from '../../src/net/init.js'
import type { InitResult } from '../../src/net/init.js'
import { Member } from '../../src/net/member.js'

// VP-to-VP messages over libp2p: group A's state machine emits outputs to group B (by B's group
// key); A's leader finds B through the DHT and delivers them; B's members check that the peer
// delivering is a verified voter of A and that A is on B's allow-list, and apply each output
// once. Leaders of either side are stopped mid-delivery; B's counts show any loss or duplicate.

type Cmd = { readonly emit: { readonly to: string, readonly tag: string, readonly count: number } } | { readonly got: string }

const enc = new TextEncoder()

class Relay implements StateMachine<Cmd, number, 'counts', Record<string, number>> {
  counts: Record<string, number> = {}
  from = new Set<string>()
  apply (cmd: Cmd, ctx: ApplyContext): number {
    if ('emit' in cmd) {
      for (let i = 0; i < cmd.emit.count; i++) ctx.send(cmd.emit.to, enc.encode(JSON.stringify({ got: `${cmd.emit.tag}.${i}` })))
      return cmd.emit.count
    }
    if (ctx.fromGroup !== undefined) this.from.add(ctx.fromGroup)
    this.counts[cmd.got] = (this.counts[cmd.got] ?? 0) + 1
    return this.counts[cmd.got] ?? 0
  }

  query (): Record<string, number> { return { ...this.counts } }
  snapshot (): Uint8Array { return enc.encode(JSON.stringify(this.counts)) }
  restore (bytes: Uint8Array): void { this.counts = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, number> }
}

type RelayMember = Member<Cmd, number, 'counts', Record<string, number>>
type RelayClient = VirtualPeerClient<Cmd, number, 'counts', Record<string, number>>

async function until (cond: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!await cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function ask (node: VpeerLibp2p, addr: string, request: Parameters<typeof encodeRequest>[0]): Promise<ClientResponse> {
  const stream = await node.dialProtocol(parseMultiaddr(addr), CLIENT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
  try {
    frames.write(encodeRequest(request))
    for await (const body of frames.frames()) return decodeResponse(body)
    throw new Error('no response')
  } finally {
    frames.abort(new Error('done'))
  }
}

describe('VP-to-VP messages over the network', () => {
  let dir: string
  const groups: Record<'a' | 'b', { init: InitResult, key: string, members: RelayMember[], relays: Relay[], client: RelayClient }> = {} as never

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vpeer-vp2vp-'))
    for (const name of ['a', 'b'] as const) {
      const init = await initCluster({ dir: join(dir, name), group: `group-${name}`, members: 3, spares: 0 })
      const members: RelayMember[] = []
      const relays: Relay[] = []
      for (const n of init.nodes) {
        const relay = new Relay()
        relays.push(relay)
        members.push(await Member.start({
          identity: await readIdentity(join(n.dir, 'identity.key')), dataDir: n.dir, cluster: init.spec,
          stateMachine: relay, replacement: false, dht: true, provideEveryMs: 1000
        }))
      }
      const client = await VirtualPeerClient.create<Cmd, number, 'counts', Record<string, number>>({
        members: members.map(m => m.addresses[0] as string), identity: await readIdentity(init.adminKey)
      })
      groups[name] = { init, key: (await groupKey(init.spec)).toString(), members, relays, client }
    }
    // One DHT: every member of B knows every member of A.
    for (const b of groups.b.members) for (const a of groups.a.members) await b.node.dial(parseMultiaddr(a.addresses[0] as string))
    // B takes outputs from A: A's group key goes on B's allow-list.
    await groups.b.client.allow(groups.a.key, { signal: AbortSignal.timeout(20_000) })
  }, 90_000)

  afterAll(async () => {
    for (const g of Object.values(groups)) {
      await g.client.close()
      for (const m of g.members) await m.stop()
    }
    await rm(dir, { recursive: true, force: true })
  })

  const countsAtB = async (): Promise<Record<string, number>> => await groups.b.client.read('counts', { signal: AbortSignal.timeout(20_000) })
  const expectOnce = async (tags: string[], count: number): Promise<void> => {
    const want = Object.fromEntries(tags.flatMap(t => Array.from({ length: count }, (_, i) => [`${t}.${i}`, 1])))
    await until(async () => Object.keys(await countsAtB()).length >= tags.length * count, `${tags.length * count} outputs applied at B`, 45_000)
    // Settle: a duplicate would come with a redelivery, after the count is reached.
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(await countsAtB()).toEqual(want)
  }

  it('outputs committed at A are applied at B exactly once, from A\'s verified voters', async () => {
    const signal = AbortSignal.timeout(30_000)
    for (const tag of ['t1', 't2', 't3']) expect(await groups.a.client.submit({ emit: { to: groups.b.key, tag, count: 10 } }, { signal })).toBe(10)
    await expectOnce(['t1', 't2', 't3'], 10)
    // Applied as A's outputs (the runtime's session of the sending group), on every member of B.
    for (const r of groups.b.relays) expect([...r.from]).toEqual([groups.a.key])
  }, 60_000)

  it('A\'s leader stopped mid-delivery: its successor delivers again, B applies each once', async () => {
    const signal = AbortSignal.timeout(30_000)
    expect(await groups.a.client.submit({ emit: { to: groups.b.key, tag: 'u', count: 40 } }, { signal })).toBe(40)
    const leader = groups.a.members.find(m => m.vp.status().role === 'leader') as RelayMember
    await leader.stop()
    groups.a.members.splice(groups.a.members.indexOf(leader), 1)
    expect(await groups.a.client.submit({ emit: { to: groups.b.key, tag: 'v', count: 5 } }, { signal })).toBe(5)
    await until(async () => Object.keys(await countsAtB()).length >= 75, '75 outputs applied at B', 45_000)
    await new Promise(resolve => setTimeout(resolve, 500))
    const counts = await countsAtB()
    expect(Object.values(counts).every(c => c === 1)).toBe(true)
    expect(Object.keys(counts).length).toBe(75)
  }, 90_000)

  it('B\'s leader stopped mid-delivery: A retries, B applies each once', async () => {
    const signal = AbortSignal.timeout(30_000)
    expect(await groups.a.client.submit({ emit: { to: groups.b.key, tag: 'w', count: 40 } }, { signal })).toBe(40)
    const leader = groups.b.members.find(m => m.vp.status().role === 'leader') as RelayMember
    await leader.stop()
    groups.b.members.splice(groups.b.members.indexOf(leader), 1)
    await until(async () => Object.keys(await countsAtB()).length >= 115, '115 outputs applied at B', 60_000)
    await new Promise(resolve => setTimeout(resolve, 500))
    const counts = await countsAtB()
    expect(Object.values(counts).every(c => c === 1)).toBe(true)
    expect(Object.keys(counts).length).toBe(115)
  }, 90_000)

  it('a stranger delivering in A\'s name, and a group off B\'s allow-list, are refused', async () => {
    const stranger = await createVpeerNode({ privateKey: (await generateIdentity()).privateKey, listen: [], dial: 'loopback' })
    try {
      const target = groups.b.members[0]?.addresses[0] as string
      const forged = await ask(stranger, target, { kind: 'outputs', id: 1, group: groups.a.key, outputs: [{ seq: 1000, data: enc.encode(JSON.stringify({ got: 'forged' })) }] })
      expect(forged).toMatchObject({ kind: 'error', code: 'ERR_SENDER_UNVERIFIED' })
      const other = (await groupKey({ group: 'x', voters: [stranger.peerId.toString()], admins: [stranger.peerId.toString()] })).toString()
      const unlisted = await ask(stranger, target, { kind: 'outputs', id: 2, group: other, outputs: [{ seq: 1, data: enc.encode('{}') }] })
      expect(unlisted).toMatchObject({ kind: 'error', code: 'ERR_ACCESS_REFUSED' })
      expect((await countsAtB()).forged).toBeUndefined()
    } finally {
      await stranger.stop()
    }
  }, 30_000)
})
