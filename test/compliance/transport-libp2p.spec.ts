import { setTimeout as sleep } from 'node:timers/promises'
import { generateIdentity } from '../../src/alm/identity.js'
import type { Identity } from '../../src/alm/identity.js'
import { Libp2pTransport } from '../../src/alm/libp2p-transport.js'
import { createVpeerNode } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { DEFAULT_FRAME_BYTES_MAX, decodeWireMessage, encodeWireMessage } from '../../src/alm/wire-codec.js'
import { transportCompliance } from './transport.js'
import type { TransportEndpoint, TransportFixture } from './transport.js'

interface Running { node: VpeerLibp2p, transport: Libp2pTransport }

const codec = { encode: encodeWireMessage, decode: (b: Uint8Array) => decodeWireMessage(b) }

transportCompliance('Libp2pTransport (127.0.0.1, tcp + noise + yamux)', async (): Promise<TransportFixture> => {
  const identities: Identity[] = await Promise.all([0, 1, 2].map(async () => await generateIdentity()))
  const group = new Set(identities.map(i => i.id))
  const listen: string[] = identities.map(() => '/ip4/127.0.0.1/tcp/0')
  const running: Array<Running | undefined> = []
  const everything: Running[] = []

  const boot = async (identity: Identity, address: string, isAllowed: (peer: string) => boolean): Promise<Running> => {
    const node = await createVpeerNode({ privateKey: identity.privateKey, listen: [address] })
    const transport = new Libp2pTransport({ node, codec, isAllowed, backoffMs: { initial: 10, max: 200 } })
    await transport.start()
    const r = { node, transport }
    everything.push(r)
    return r
  }
  const introduce = async (r: Running, except: string): Promise<void> => {
    for (const [j, other] of identities.entries()) {
      if (other.id !== except) await r.transport.addPeer(other.id, [(await import('@multiformats/multiaddr')).multiaddr(listen[j] as string)])
    }
  }
  for (const [i, identity] of identities.entries()) {
    const r = await boot(identity, listen[i] as string, peer => group.has(peer))
    // Keep the port the OS picked: a restarted member listens where its peers know it.
    listen[i] = r.node.getMultiaddrs()[0]?.toString().replace(/\/p2p\/.*$/, '') as string
    running[i] = r
  }
  for (const [i, r] of running.entries()) await introduce(r as Running, identities[i]?.id as string)
  const endpoint = (i: number): TransportEndpoint => ({ id: identities[i]?.id as string, transport: (running[i] as Running).transport })

  return {
    endpoints: [0, 1, 2].map(endpoint),
    async waitFor (predicate, budgetMs = 5000) {
      const deadline = Date.now() + budgetMs
      while (!predicate()) {
        if (Date.now() > deadline) return false
        await sleep(5)
      }
      return true
    },
    async down (i) {
      const r = running[i]
      running[i] = undefined
      await r?.transport.stop()
      await r?.node.stop()
    },
    async up (i) {
      const r = await boot(identities[i] as Identity, listen[i] as string, peer => group.has(peer))
      running[i] = r
      await introduce(r, identities[i]?.id as string)
      return endpoint(i)
    },
    async stranger () {
      const identity = await generateIdentity()
      const r = await boot(identity, '/ip4/127.0.0.1/tcp/0', () => true)
      await introduce(r, identity.id)
      return { id: identity.id, transport: r.transport }
    },
    refusesStrangers: true,
    frameBytesMax: DEFAULT_FRAME_BYTES_MAX,
    async close () {
      for (const r of everything) {
        await r.transport.stop()
        await r.node.stop()
      }
    }
  }
}, { timeoutMs: 40_000 })
