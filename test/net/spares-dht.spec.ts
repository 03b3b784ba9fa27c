import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentity, readIdentity } from '../../src/alm/identity.js'
import type { Identity } from '../../src/alm/identity.js'
import { createVpeerNode } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { frameAll } from '../../src/alm/frames.js'
import { VirtualPeerClient } from '../../src/net/client.js'
import { dialAddresses } from '../../src/net/cluster-spec.js'
import { groupKey } from '../../src/net/group-key.js'
import { initCluster } from '../../src/net/init.js'
import { Member } from '../../src/net/member.js'
import type { MemberOptions } from '../../src/net/member.js'
import {
  SPARE_LIMITS, SPARE_PROTOCOL, SparePool, SpareService, decodeSpareRequest, decodeSpareResponse, effectiveUptime,
  encodeSpareRequest, encodeSpareResponse, probeSpare, spareKey
} from '../../src/net/spares.js'
import type { FoundPeer, SpareInfo } from '../../src/net/spares.js'
import type { NetLogger } from '../../src/alm/log.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'

type Kv = Member<KvCommand, KvResult, KvQuery, KvAnswer>

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until (what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await sleep(50)
  }
  if (process.env.SPARES_DEBUG !== undefined) console.log(Math.round(performance.now()), 'reached:', what)
}

function recordingLog (): NetLogger & { lines: Array<{ level: string, message: string, fields: Record<string, unknown> }> } {
  const lines: Array<{ level: string, message: string, fields: Record<string, unknown> }> = []
  const at = (level: string) => (fields: Record<string, unknown>, message: string): void => { lines.push({ level, message, fields }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

describe('the uptime rule', () => {
  it('caps what a candidate reports by what this member watched plus one refresh interval', () => {
    expect(effectiveUptime({ reportedMs: 86_400_000, watchedMs: 3000, graceMs: 1000 })).toBe(4000)
    // Watched longer than it says: it restarted in between, and its own figure stands.
    expect(effectiveUptime({ reportedMs: 1500, watchedMs: 60_000, graceMs: 1000 })).toBe(1500)
    expect(effectiveUptime({ reportedMs: Number.NaN, watchedMs: 60_000, graceMs: 1000 })).toBe(0)
    expect(effectiveUptime({ reportedMs: -5, watchedMs: 60_000, graceMs: 1000 })).toBe(0)
  })
})

describe('SparePool (found, probed, watched; fake DHT and clock)', () => {
  const ids = { honest: '12D3KooWHonest', liar: '12D3KooWLiar', stranger: '12D3KooWStranger', dead: '12D3KooWDead', listed: '12D3KooWListed' }
  function pool (options: { now: () => number, found: () => FoundPeer[], answers: Map<string, () => SpareInfo>, allowed: Set<string>, log?: NetLogger, learned?: string[] }): SparePool {
    return new SparePool({
      self: '12D3KooWSelf',
      find: async () => options.found(),
      probe: async peer => {
        const answer = options.answers.get(peer.id)
        if (answer === undefined) throw new Error('no answer')
        return answer()
      },
      isAllowed: id => options.allowed.has(id),
      learned: async id => { options.learned?.push(id) },
      fallback: [ids.listed, ids.honest],
      refreshMs: 1000,
      now: options.now,
      ...(options.log !== undefined ? { log: options.log } : {})
    })
  }

  it('ranks invited, reachable candidates by effective uptime: a liar seen late cannot win; strangers and the dead are left out', async () => {
    const key = await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })
    const info = (uptimeMs: number): SpareInfo => ({ groupKey: key, uptimeMs, addresses: ['/ip4/127.0.0.1/tcp/1'] })
    let t = 0
    let honestUp = 5000
    const found: FoundPeer[] = [{ id: ids.honest, addresses: [] }, { id: ids.stranger, addresses: [] }, { id: ids.dead, addresses: [] }]
    const answers = new Map<string, () => SpareInfo>([
      [ids.honest, () => info(honestUp + t)],
      [ids.stranger, () => info(10 * 86_400_000)],
      [ids.liar, () => info(86_400_000)]
    ])
    const allowed = new Set([ids.honest, ids.liar, ids.dead])
    const log = recordingLog()
    const learned: string[] = []
    const p = pool({ now: () => t, found: () => found, answers, allowed, log, learned })

    await p.refresh()
    // The honest one is watched from t = 0: 5 s reported, capped at 0 + 1 s of grace.
    expect(p.uptimeOf(ids.honest)).toBe(1000)
    for (let i = 1; i <= 10; i++) {
      t = i * 1000
      await p.refresh()
    }
    // The liar shows up at t = 10 s claiming a day.
    found.push({ id: ids.liar, addresses: [] })
    await p.refresh()
    expect(p.uptimeOf(ids.honest)).toBe(11_000)
    expect(p.uptimeOf(ids.liar)).toBe(1000)
    // DHT spares by effective uptime, then the static fallback (deduplicated); never the stranger or the dead.
    expect(p.candidates()).toEqual([ids.honest, ids.liar, ids.listed])
    expect(p.uptimeOf(ids.stranger)).toBeDefined()
    expect(log.lines.filter(l => l.fields.peer === ids.stranger && l.level === 'warn')).toHaveLength(1)
    expect(learned).toContain(ids.liar)

    // Allowed later: offered from the next call on, with the watch it has had all along.
    allowed.add(ids.stranger)
    expect(p.uptimeOf(ids.stranger)).toBe(11_000)
    expect(p.candidates()).toEqual([ids.honest, ids.stranger, ids.liar, ids.listed])
    allowed.delete(ids.stranger)

    // A restart (uptime went backwards) starts the watch again.
    t = 12_000
    honestUp = -t + 200
    await p.refresh()
    expect(p.uptimeOf(ids.honest)).toBe(200)
    expect(p.candidates()).toEqual([ids.liar, ids.honest, ids.listed])

    // One that stops answering is dropped at once.
    answers.delete(ids.liar)
    t = 13_000
    await p.refresh()
    expect(p.candidates()).toEqual([ids.honest, ids.listed])
  })

  it('forgets a candidate whose rounds stopped (no probe answered for two intervals)', async () => {
    const key = await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })
    let t = 0
    const p = pool({ now: () => t, found: () => [{ id: ids.honest, addresses: [] }], answers: new Map([[ids.honest, () => ({ groupKey: key, uptimeMs: 1, addresses: [] })]]), allowed: new Set([ids.honest]) })
    await p.refresh()
    expect(p.candidates()[0]).toBe(ids.honest)
    t = 12_000 // the rounds stalled (none for 3 intervals + 10 s: past the default staleness)
    expect(p.candidates()[0]).toBe(ids.honest)
    t = 13_001
    expect(p.candidates()).toEqual([ids.listed, ids.honest])
  })
})

describe('the spare protocol', () => {
  it('the spare key is derived from the group key and differs from it', async () => {
    const g = await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })
    const h = await groupKey({ group: 'h', voters: ['a'], admins: ['b'] })
    expect((await spareKey(g)).equals(await spareKey(g))).toBe(true)
    expect((await spareKey(g)).equals(g)).toBe(false)
    expect((await spareKey(g)).equals(await spareKey(h))).toBe(false)
  })

  it('round-trips and refuses bad bytes with a typed error', async () => {
    const key = await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })
    const request = encodeSpareRequest({ kind: 'probe', groupKey: key })
    expect(decodeSpareRequest(request).groupKey.equals(key)).toBe(true)
    const ok = encodeSpareResponse({ kind: 'ok', groupKey: key, uptimeMs: 123_456, addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4002'] })
    expect(decodeSpareResponse(ok)).toMatchObject({ kind: 'ok', uptimeMs: 123_456, addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4002'] })
    expect(decodeSpareResponse(encodeSpareResponse({ kind: 'error', code: 'ERR_NOT_SPARE', message: 'no' }))).toEqual({ kind: 'error', code: 'ERR_NOT_SPARE', message: 'no' })

    const bad: Array<[string, Uint8Array, (b: Uint8Array) => unknown]> = [
      ['empty', new Uint8Array(0), decodeSpareRequest],
      ['another version', Uint8Array.of(2, ...request.subarray(1)), decodeSpareRequest],
      ['another kind', Uint8Array.of(1, 9, ...request.subarray(2)), decodeSpareRequest],
      ['truncated', request.subarray(0, request.length - 1), decodeSpareRequest],
      ['a trailing byte', Uint8Array.of(...request, 0), decodeSpareRequest],
      ['a key over the limit', Uint8Array.of(1, 1, SPARE_LIMITS.cidBytesMax + 1, ...new Uint8Array(SPARE_LIMITS.cidBytesMax + 1)), decodeSpareRequest],
      ['a key that is no CID', Uint8Array.of(1, 1, 3, 0xff, 0xff, 0xff), decodeSpareRequest],
      ['a non-canonical length', Uint8Array.of(1, 1, 0x80 | request[2]!, 0, ...request.subarray(3)), decodeSpareRequest],
      ['an unknown status', Uint8Array.of(1, 7), decodeSpareResponse],
      ['too many addresses', Uint8Array.of(...ok.subarray(0, 2 + 1 + key.bytes.length), 0xc0, 0xc4, 0x07, SPARE_LIMITS.addressesMax + 1), decodeSpareResponse],
      ['an address that is no multiaddr', Uint8Array.of(...ok.subarray(0, 2 + 1 + key.bytes.length), 0xc0, 0xc4, 0x07, 1, 3, 0x61, 0x62, 0x63), decodeSpareResponse],
      ['an error code that is no UTF-8', Uint8Array.of(1, 2, 1, 0xff, 0), decodeSpareResponse]
    ]
    for (const [name, bytes, decode] of bad) {
      expect(() => decode(bytes), name).toThrow(expect.objectContaining({ code: 'ERR_SPARE_PROTOCOL', name: 'SpareProtocolError' }))
    }
  })

  describe('over libp2p', () => {
    const nodes: VpeerLibp2p[] = []
    const services: SpareService[] = []
    afterEach(async () => {
      for (const s of services.splice(0)) await s.stop()
      for (const n of nodes.splice(0)) await n.stop()
    })

    it('answers a probe while a spare; refuses another group, a member, and garbage', async () => {
      const key = await groupKey({ group: 'g', voters: ['a'], admins: ['b'] })
      const other = await groupKey({ group: 'h', voters: ['a'], admins: ['b'] })
      const spare = await createVpeerNode({ privateKey: (await generateIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
      const prober = await createVpeerNode({ privateKey: (await generateIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
      nodes.push(spare, prober)
      let isSpare = true
      const log = recordingLog()
      const service = new SpareService({ node: spare, groupKey: key, isSpare: () => isSpare, uptimeMs: () => 4242, requestTimeoutMs: 300, log })
      services.push(service)
      await service.start()
      const addrs = spare.getMultiaddrs().map(a => multiaddr(a.toString().replace(/\/p2p\/.*$/, '')))

      const info = await probeSpare(prober, spare.peerId, addrs, key, 2000)
      expect(info.uptimeMs).toBe(4242)
      expect(info.addresses).toEqual(addrs.map(a => a.toString()))
      await expect(probeSpare(prober, spare.peerId, addrs, other, 2000)).rejects.toMatchObject({ code: 'ERR_SPARE_REFUSED', remoteCode: 'ERR_WRONG_GROUP' })
      isSpare = false
      await expect(probeSpare(prober, spare.peerId, addrs, key, 2000)).rejects.toMatchObject({ code: 'ERR_SPARE_REFUSED', remoteCode: 'ERR_NOT_SPARE' })

      // Garbage, and a request that never comes: the server closes the stream and logs why.
      const garbage = await prober.dialProtocol(spare.peerId, SPARE_PROTOCOL)
      garbage.send(frameAll([Uint8Array.of(1, 1, 3, 0xff, 0xff, 0xff)]))
      const silent = await prober.dialProtocol(spare.peerId, SPARE_PROTOCOL)
      await until('both refusals are logged', () => log.lines.filter(l => l.message === 'spare request refused').length >= 2, 5000)
      expect(log.lines.filter(l => l.message === 'spare request refused').map(l => (l.fields.err as { code?: string }).code).sort())
        .toEqual(['ERR_SPARE_PROTOCOL', 'ERR_SPARE_PROTOCOL'])
      silent.abort(new Error('done'))
    }, 20_000)
  })
})

describe('spares from the DHT', () => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

  it('a dead voter is replaced by the invited DHT spare with the longest uptime; an uninvited one never joins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpeer-spares-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const cluster = await initCluster({ dir, members: 3, spares: 0 })
    const running: Kv[] = []
    cleanup.push(async () => { for (const m of running) await m.stop() })
    const start = async (identity: Identity, name: string, extra: Partial<MemberOptions<KvCommand, KvResult, KvQuery, KvAnswer>> = {}): Promise<Kv> => {
      const m = await Member.start<KvCommand, KvResult, KvQuery, KvAnswer>({
        identity,
        dataDir: join(dir, name),
        cluster: cluster.spec,
        stateMachine: new KvStateMachine(),
        // Snapshots every few slots and no log kept below them: a new member needs the snapshot.
        runtime: { tickMs: 20, snapshotEverySlots: 4, logRetentionSlots: 0 },
        replacement: { replaceAfterTicks: 50 },
        dht: true,
        provideEveryMs: 2000,
        spareRefreshMs: 500,
        log: process.env.SPARES_DEBUG === undefined ? undefined as never : { debug: () => {}, info: (f, m) => { console.log(Math.round(performance.now()), name, m, JSON.stringify(f).slice(0, 200)) }, warn: (f, m) => { console.log(Math.round(performance.now()), name, 'WARN', m, JSON.stringify(f).slice(0, 200)) }, error: (f, m) => { console.log(name, 'ERR', m, JSON.stringify(f)) } },
        ...extra
      })
      running.push(m)
      return m
    }
    const voters: Kv[] = []
    for (const n of cluster.nodes) voters.push(await start(await readIdentity(join(n.dir, 'identity.key')), n.name))

    // The uninvited spare comes first (it would have the longest uptime), then the early invited
    // one, then the late one. None of them is in the cluster file.
    const uninvited = await start(await generateIdentity(), 'u')
    const early = await start(await generateIdentity(), 'early')
    // Counted from its start: on a loaded machine a slow voter can be suspected earlier than planned.
    let snapshots = 0
    early.vp.addEventListener('snapshot', () => { snapshots++ })
    await sleep(2500)
    const late = await start(await generateIdentity(), 'late')
    expect(cluster.spec.spares).toEqual([])

    const admin = await VirtualPeerClient.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      members: cluster.spec.voters.flatMap(id => dialAddresses(cluster.spec, id)),
      identity: await readIdentity(cluster.adminKey)
    })
    cleanup.push(async () => { await admin.close() })
    const signal = AbortSignal.timeout(50_000)
    await admin.allow(early.id, { signal })
    await admin.allow(late.id, { signal })
    expect(await admin.submit({ f: 'write', key: 'x', value: 1 }, { signal })).toEqual({ ok: true })

    const leaderId = (await admin.whenLeader({ signal })).leader
    const leader = voters.find(v => v.id === leaderId) as Kv
    const seen = new Set<string>()
    for (const v of voters) {
      v.vp.addEventListener('membership', e => { for (const id of [...e.detail.configuration.voters, ...e.detail.configuration.learners]) seen.add(id) })
    }
    // The leader's pool has found all three; it offers the invited two, the early one first.
    await until('the leader watches every spare', () => [uninvited, early, late].every(s => leader.spares?.uptimeOf(s.id) !== undefined) && leader.spares?.candidates().length === 2, 15_000)
    expect(leader.spares?.candidates()).toEqual([early.id, late.id])
    expect((leader.spares?.uptimeOf(early.id) ?? 0) - (leader.spares?.uptimeOf(late.id) ?? 0)).toBeGreaterThan(500)

    // A stranger that provides the group key is not admitted by a spare: only the members of the
    // configuration verified from the providers' chains are (it serves no chain that verifies).
    const stranger = await createVpeerNode({ privateKey: (await generateIdentity()).privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], dht: 'server' })
    cleanup.push(async () => { await stranger.stop() })
    for (const v of voters) await stranger.dial(v.node.getMultiaddrs()[0] as never)
    for (let i = 0; ; i++) {
      try {
        await stranger.contentRouting.provide(await groupKey(cluster.spec), { signal: AbortSignal.timeout(3000) })
        break
      } catch (error) {
        if (i >= 5) throw error
        await sleep(200)
      }
    }
    await until('the late spare verified the group from its providers', () => (late as unknown as { verifiedGroup?: unknown }).verifiedGroup !== undefined, 15_000)
    await sleep(2500) // at least one more lookup, which finds the stranger among the providers
    expect(late.isAllowed(stranger.peerId.toString())).toBe(false)
    for (const v of voters) expect(late.isAllowed(v.id)).toBe(true)

    for (let i = 0; i < 10; i++) await admin.submit({ f: 'write', key: `k${i}`, value: i }, { signal })
    const victim = voters.find(v => v.id !== leaderId) as Kv
    await victim.stop()
    running.splice(running.indexOf(victim), 1)

    await until('the early spare is a voter', () => {
      const c = leader.vp.status().configuration
      return c.voters.includes(early.id) && !c.voters.includes(victim.id)
    }, 20_000)
    expect(snapshots).toBeGreaterThan(0)
    expect(await admin.submit({ f: 'write', key: 'x', value: 2 }, { signal })).toEqual({ ok: true })
    expect(await admin.read({ key: 'x' }, { signal })).toBe(2)
    await until('the new voter applies the write', () => early.vp.applied >= leader.vp.applied, 10_000)
    // Every member can reach the new one, and a redirect names its addresses.
    for (const v of voters.filter(v => v !== victim)) expect(v.addressesOf(early.id).length).toBeGreaterThan(0)
    expect(seen.has(uninvited.id)).toBe(false)
    expect(seen.has(early.id)).toBe(true)
    expect(seen.has(late.id)).toBe(false)
    expect(leader.vp.status().configuration.learners).toEqual([])
  }, 60_000)
})
