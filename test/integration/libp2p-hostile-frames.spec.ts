import { multiaddr } from '@multiformats/multiaddr'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import type { WireMessage } from '../../src/contracts/index.js'
import { frameAll } from '../../src/alm/frames.js'
import { generateIdentity } from '../../src/alm/identity.js'
import type { Identity } from '../../src/alm/identity.js'
import { Libp2pTransport, PAXOS_PROTOCOL, SNAPSHOT_PROTOCOL } from '../../src/alm/libp2p-transport.js'
import type { NetLogger } from '../../src/alm/log.js'
import { createVpeerNode } from '../../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../../src/alm/node-factory.js'
import { decodeWireMessage, encodeWireMessage } from '../../src/alm/wire-codec.js'

const codec = { encode: encodeWireMessage, decode: (b: Uint8Array) => decodeWireMessage(b) }
const heartbeat = (n: number): WireMessage => ({ type: 'heartbeat', ballot: { round: 1, node: 'x' }, commitIndex: n, readSeq: 0 })

interface Logged { level: string, fields: Record<string, unknown>, message: string }
function recorder (): { log: NetLogger, lines: Logged[] } {
  const lines: Logged[] = []
  const at = (level: string) => (fields: Record<string, unknown>, message: string): void => { lines.push({ level, fields, message }) }
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

async function until (predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await sleep(5)
  }
}

describe('libp2p transport: hostile frames from an allowed peer close only that stream', () => {
  const nodes: VpeerLibp2p[] = []
  afterEach(async () => { for (const n of nodes.splice(0)) await n.stop() })

  async function setup (): Promise<{ server: Libp2pTransport, serverNode: VpeerLibp2p, lines: Logged[], attacker: VpeerLibp2p, good: Libp2pTransport, goodId: Identity, received: Array<[string, WireMessage]> }> {
    const [s, a, g] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()])
    const serverNode = await createVpeerNode({ privateKey: s.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const attacker = await createVpeerNode({ privateKey: a.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const goodNode = await createVpeerNode({ privateKey: g.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(serverNode, attacker, goodNode)
    const { log, lines } = recorder()
    // The attacker is a member: access control admits it, so only frame checks stand in the way.
    const server = new Libp2pTransport({ node: serverNode, codec, isAllowed: p => p === a.id || p === g.id, frameBytesMax: 64 * 1024, log })
    await server.start()
    const received: Array<[string, WireMessage]> = []
    server.onMessage((from, m) => { received.push([from, m]) })
    const good = new Libp2pTransport({ node: goodNode, codec, isAllowed: () => true })
    await good.start()
    await good.addPeer(s.id, serverNode.getMultiaddrs().map(m => multiaddr(m.toString().replace(/\/p2p\/.*/, ''))))
    return { server, serverNode, lines, attacker, good, goodId: g, received }
  }

  const attacks: Array<[string, (send: (b: Uint8Array) => void) => void, RegExp]> = [
    ['an oversized length prefix', send => { send(Uint8Array.of(0xff, 0xff, 0xff, 0x7f)) }, /exceeds the limit/],
    ['bytes the codec refuses', send => { send(frameAll([Uint8Array.of(1, 250, 3, 4)])) }, /wire|tag|unknown/i],
    ['an unknown codec version', send => { send(frameAll([Uint8Array.of(99, 1)])) }, /version/],
    ['a non-canonical length prefix', send => { send(Uint8Array.of(0x85, 0x00, 1, 2, 3, 4, 5)) }, /non-canonical/],
    ['an empty frame', send => { send(Uint8Array.of(0)) }, /empty frame/],
    ['a truncated frame', send => { send(Uint8Array.of(10, 1, 2, 3)) }, /truncated/]
  ]

  for (const [name, attack, reason] of attacks) {
    it(`${name}: the stream is closed with a logged reason; other peers are still served`, async () => {
      const { server, serverNode, lines, attacker, good, received } = await setup()
      const stream = await attacker.dialProtocol(serverNode.getMultiaddrs()[0] as never, PAXOS_PROTOCOL)
      // A valid frame first: it is delivered, so the stream really was accepted.
      stream.send(frameAll([encodeWireMessage(heartbeat(1))]))
      await until(() => received.length === 1)
      attack(b => { stream.send(b) })
      if (name === 'a truncated frame') await stream.close()
      await until(() => server.stats().streamsClosedBadFrame === 1)
      const warning = lines.find(l => l.level === 'warn' && l.message.includes('bad frame'))
      expect(warning).toBeDefined()
      expect(JSON.stringify(warning?.fields)).toMatch(reason)
      // The node keeps serving: a well-behaved member's messages still arrive.
      for (let i = 0; i < 10; i++) good.send(serverNode.peerId.toString(), heartbeat(100 + i))
      await until(() => received.filter(([, m]) => m.type === 'heartbeat' && m.commitIndex >= 100).length === 10)
      await good.stop()
    }, 20_000)
  }

  it('a Paxos message on the snapshot protocol closes that stream', async () => {
    const { server, serverNode, lines, attacker } = await setup()
    const stream = await attacker.dialProtocol(serverNode.getMultiaddrs()[0] as never, SNAPSHOT_PROTOCOL)
    stream.send(frameAll([encodeWireMessage(heartbeat(1))]))
    await until(() => server.stats().streamsClosedBadFrame === 1)
    expect(lines.some(l => l.message.includes('bad frame') && JSON.stringify(l.fields).includes('heartbeat message on'))).toBe(true)
  }, 20_000)

  it('a peer outside the configuration: its stream is refused with a logged reason', async () => {
    const stranger = await generateIdentity()
    const s = await generateIdentity()
    const serverNode = await createVpeerNode({ privateKey: s.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const strangerNode = await createVpeerNode({ privateKey: stranger.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(serverNode, strangerNode)
    const { log, lines } = recorder()
    const server = new Libp2pTransport({ node: serverNode, codec, isAllowed: () => false, log })
    await server.start()
    const received: WireMessage[] = []
    server.onMessage((_from, m) => { received.push(m) })
    const stream = await strangerNode.dialProtocol(serverNode.getMultiaddrs()[0] as never, PAXOS_PROTOCOL)
    try { stream.send(frameAll([encodeWireMessage(heartbeat(1))])) } catch {}
    await until(() => server.stats().streamsRefused >= 1)
    expect(received).toEqual([])
    const line = lines.find(l => l.message.includes('stream refused'))
    expect(line?.fields.peer).toBe(stranger.id)
  }, 20_000)
})
