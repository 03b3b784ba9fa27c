import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity, readIdentity } from '../../src/alm/identity.js'
import type { Identity } from '../../src/alm/identity.js'
import { createVpeerNode, parseMultiaddr } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { FrameStream } from '../../src/alm/frame-stream.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/net/client-protocol.js'
import type { ClientRequest, ClientResponse } from '../../src/net/client-protocol.js'
import {
  ConfigChainError, decodeConfigChain, encodeConfigChain, fetchVerifiedConfiguration, judgeRedirect, verifyConfigChain
} from '../../src/net/config-chain.js'
import type { VerifiedConfiguration } from '../../src/net/config-chain.js'
import { groupKey } from '../../src/net/group-key.js'
import { initCluster } from '../../src/net/init.js'
import type { InitResult } from '../../src/net/init.js'
import { Member } from '../../src/net/member.js'
import { VirtualPeerClient } from '../../src/net/client.js'
import { certificateBytes } from '../../src/vpeer/certificates.js'
import type { Configuration } from '../../src/paxos/index.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import type { CID } from 'multiformats/cid'

// Verified membership with real members (libp2p, LevelDB, Ed25519 identity keys): after a
// replacement the chain fetched over the client protocol verifies to the current configuration;
// a forged provider, a forged redirect and a replayed old configuration are refused.

type Kv = Member<KvCommand, KvResult, KvQuery, KvAnswer>

/** One request on a fresh client-protocol stream to `addr`; resolves with the response. */
async function ask (node: VpeerLibp2p, addr: string, request: ClientRequest): Promise<ClientResponse> {
  const stream = await node.dialProtocol(parseMultiaddr(addr), CLIENT_PROTOCOL, { signal: AbortSignal.timeout(5000) })
  const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
  try {
    frames.write(encodeRequest(request))
    for await (const body of frames.frames()) return decodeResponse(body)
    throw new Error('the stream closed without a response')
  } finally {
    frames.abort(new Error('done'))
  }
}

/** The encoded chain page from `fromEpoch` at `addr` (the `request` of fetchVerifiedConfiguration). */
function chainAt (node: VpeerLibp2p, addr: string): (fromEpoch: number) => Promise<Uint8Array> {
  return async fromEpoch => {
    const r = await ask(node, addr, { kind: 'chain', id: 1, fromEpoch })
    if (r.kind !== 'ok') throw new Error(`chain request answered ${r.kind}${r.kind === 'error' ? `: ${r.code} ${r.message}` : ''}`)
    return r.result
  }
}

async function until (cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('verified membership over the client protocol', () => {
  let dir: string
  let cluster: InitResult
  let key: CID
  const members: Kv[] = []
  let client: VpeerLibp2p
  let stranger: { identity: Identity, node: VpeerLibp2p }
  let genesisPage: Uint8Array
  let verified: VerifiedConfiguration
  let victim: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vpeer-certs-'))
    cluster = await initCluster({ dir, group: 'certs', members: 3, spares: 1 })
    key = await groupKey(cluster.spec)
    for (const n of cluster.nodes) {
      members.push(await Member.start<KvCommand, KvResult, KvQuery, KvAnswer>({
        identity: await readIdentity(join(n.dir, 'identity.key')),
        dataDir: n.dir,
        cluster: cluster.spec,
        stateMachine: new KvStateMachine(),
        replacement: { replaceAfterTicks: 80, checkEveryTicks: 5 }
      }))
    }
    client = await createVpeerNode({ privateKey: (await readIdentity(cluster.adminKey)).privateKey, listen: [] })
    const id = await generateIdentity()
    stranger = { identity: id, node: await createVpeerNode({ privateKey: id.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] }) }
    await until(() => members.some(m => m.vp.status().role === 'leader'), 'a leader', 15_000)
    const someone = members[0] as Kv
    genesisPage = await chainAt(client, someone.addresses[0] as string)(0)

    // A voter that is not the leader dies; the leader swaps the spare in (epochs 1 and 2).
    const leader = members.find(m => m.vp.status().role === 'leader') as Kv
    const dead = members.find(m => m !== leader && cluster.spec.voters.includes(m.id)) as Kv
    victim = dead.id
    await dead.stop()
    const live = members.filter(m => m !== dead)
    await until(() => live.every(m => (m.vp.certificateChain()?.links.length ?? 0) >= 2), 'the replacement certified on every live member', 20_000)
  }, 60_000)

  afterAll(async () => {
    await client?.stop()
    await stranger?.node.stop()
    for (const m of members) await m.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('the chain fetched from any live member verifies to its current configuration', async () => {
    const spare = cluster.spec.spares[0] as string
    for (const m of members.filter(m => m.id !== victim)) {
      verified = await fetchVerifiedConfiguration({ groupKey: key, request: chainAt(client, m.addresses[0] as string), signal: AbortSignal.timeout(10_000) })
      const current = m.vp.status().configuration
      expect(verified).toEqual({ groupKey: key.toString(), epoch: current.epoch, voters: current.voters, learners: current.learners })
      expect(verified.epoch).toBe(2)
      expect(verified.voters).toContain(spare)
      expect(verified.voters).not.toContain(victim)
    }
    // Each link carries Ed25519 signatures by a majority of the replaced voters, never the dead one's.
    const page = decodeConfigChain(await chainAt(client, (members.find(m => m.id === spare) as Kv).addresses[0] as string)(0))
    for (const l of page.links) {
      expect(l.signatures.length).toBeGreaterThanOrEqual(2)
      expect(l.signatures.map(s => s.signer)).not.toContain(victim)
    }
  })

  it('a forged provider — a stranger serving a chain that names itself, in the voters\' names — fails verification', async () => {
    const genesis = { group: cluster.spec.group, voters: cluster.spec.voters, admins: cluster.spec.admins }
    const root: Configuration = { epoch: 0, voters: [...cluster.spec.voters], learners: [] }
    const self: Configuration = { epoch: 1, voters: [stranger.identity.id], learners: [] }
    const signature = await stranger.identity.privateKey.sign(certificateBytes(key.bytes, root, self))
    await stranger.node.handle(CLIENT_PROTOCOL, (stream) => {
      const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
      void (async () => {
        for await (const body of frames.frames()) {
          const request = decodeRequest(body)
          // Claimed to be signed by two genesis voters; the signatures are the stranger's.
          const signatures = root.voters.slice(0, 2).map(signer => ({ signer, signature }))
          const forged = encodeConfigChain({ genesis, base: root, links: [{ configuration: self, signatures }], more: false })
          frames.write(encodeResponse({ kind: 'ok', id: request.id, result: forged }))
        }
      })().catch(() => {})
    })
    const addr = stranger.node.getMultiaddrs()[0]?.toString() as string
    const error = await fetchVerifiedConfiguration({ groupKey: key, request: chainAt(client, addr), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigChainError)
    expect((error as ConfigChainError).code).toBe('ERR_CHAIN_SIGNATURE')
    // Signed as itself: it was no voter.
    const asItself = { genesis, base: root, links: [{ configuration: self, signatures: [{ signer: stranger.identity.id, signature }] }] }
    expect(() => verifyConfigChain(key, asItself)).toThrow(expect.objectContaining({ code: 'ERR_CHAIN_SIGNATURE' }))
    // A real chain with its links' signatures cut down to one: no majority.
    const real = decodeConfigChain(await chainAt(client, (members.find(m => m.id !== victim) as Kv).addresses[0] as string)(0))
    const thin = { ...real, links: real.links.map(l => ({ ...l, signatures: l.signatures.slice(0, 1) })) }
    expect(() => verifyConfigChain(key, thin)).toThrow(expect.objectContaining({ code: 'ERR_CHAIN_QUORUM' }))
    // A genesis of its own making does not hash to the group key.
    const own = encodeConfigChain({ genesis: { ...genesis, voters: [stranger.identity.id] }, base: { ...self, epoch: 0 }, links: [], more: false })
    expect(() => verifyConfigChain(key, decodeConfigChain(own))).toThrow(expect.objectContaining({ code: 'ERR_CHAIN_GENESIS' }))
  })

  it('a client that knows the group key verifies before it talks: a forged provider and its redirects are never followed', async () => {
    const admin = await readIdentity(cluster.adminKey)
    const strangerAddr = stranger.node.getMultiaddrs()[0]?.toString() as string
    // Only the forged provider (serving the forged chain of the previous test): nothing verifies.
    await expect(VirtualPeerClient.create<KvCommand, KvResult, KvQuery, KvAnswer>({ members: [strangerAddr], group: key, identity: admin, deadlineMs: 5000 }))
      .rejects.toMatchObject({ code: 'ERR_GROUP_UNREACHABLE' })

    // Now it replays a genuine old chain (the genesis page) and redirects everything else to itself.
    let served = 0
    await stranger.node.unhandle(CLIENT_PROTOCOL)
    await stranger.node.handle(CLIENT_PROTOCOL, (stream) => {
      const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
      void (async () => {
        for await (const body of frames.frames()) {
          const request = decodeRequest(body)
          if (request.kind === 'chain') {
            frames.write(encodeResponse({ kind: 'ok', id: request.id, result: genesisPage }))
            continue
          }
          served++
          const self = stranger.identity.id
          frames.write(encodeResponse({ kind: 'redirect', id: request.id, leader: self, leaderAddrs: [strangerAddr], epoch: 3, voters: [self], learners: [], member: self, applied: 0, memberAddrs: [strangerAddr] }))
        }
      })().catch(() => {})
    })
    const live = members.find(m => m.id !== victim) as Kv
    const c = await VirtualPeerClient.create<KvCommand, KvResult, KvQuery, KvAnswer>({ members: [strangerAddr, live.addresses[0] as string], group: key, identity: admin })
    try {
      expect(c.verifiedConfiguration?.epoch).toBe(2)
      const signal = AbortSignal.timeout(20_000)
      for (let i = 0; i < 5; i++) expect(await c.submit({ f: 'write', key: 'v', value: i }, { signal })).toEqual({ ok: true })
      expect(await c.send({ f: 'write', key: 'v', value: 9 }, { signal })).toEqual({ ok: true })
      expect(await c.read({ key: 'v' }, { signal })).toBe(9)
      expect((await c.whenLeader({ signal })).leader).not.toBe(stranger.identity.id)
    } finally {
      await c.close()
    }
    // Listed first, it was asked for its chain (stale: refused) and never for anything else.
    expect(served).toBe(0)
  }, 40_000)

  it('a forged redirect names a leader outside the verified voters; a real one names a verified voter', async () => {
    const live = members.find(m => m.id !== victim) as Kv
    const info = await ask(client, live.addresses[0] as string, { kind: 'info', id: 1 })
    expect(info.kind).toBe('info')
    if (info.kind !== 'info') return
    expect(judgeRedirect(verified, info)).toEqual({ kind: 'trusted' })
    const forged = judgeRedirect(verified, { ...info, leader: stranger.identity.id })
    expect(forged.kind).toBe('forged')
    expect(forged.kind === 'forged' ? forged.error.code : undefined).toBe('ERR_CHAIN_REDIRECT')
    // The removed voter is no longer a verified voter either.
    expect(judgeRedirect(verified, { ...info, leader: victim }).kind).toBe('forged')
  })

  it('a replayed old configuration is refused against the newer one trusted', async () => {
    const old = decodeConfigChain(genesisPage)
    expect(verifyConfigChain(key, old).epoch).toBe(0) // genuine, but old
    expect(() => verifyConfigChain(key, old, { trusted: verified })).toThrow(expect.objectContaining({ code: 'ERR_CHAIN_STALE' }))
    await expect(fetchVerifiedConfiguration({ groupKey: key, request: async () => genesisPage, trusted: verified })).rejects.toMatchObject({ code: 'ERR_CHAIN_STALE' })
  })
})
