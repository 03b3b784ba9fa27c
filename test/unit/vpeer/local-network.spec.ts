import { describe, expect, it } from 'vitest'
import type { NodeId } from '../../../src/paxos/types.js'
import { LocalNetwork, LocalNetworkError } from '../../../src/vpeer/local-network.js'
import { InvalidArgumentError } from '../../../src/vpeer/errors.js'

interface Msg { readonly n: number }

/** Lets every delivery round run, including messages sent by handlers. */
async function settle (rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>(resolve => { setImmediate(resolve) })
}

function setup (ids: NodeId[] = ['a', 'b', 'c']) {
  const network = new LocalNetwork<Msg>()
  const received = new Map<NodeId, Array<{ from: NodeId, n: number }>>()
  const unsubscribe = new Map<NodeId, () => void>()
  for (const id of ids) {
    const list: Array<{ from: NodeId, n: number }> = []
    received.set(id, list)
    unsubscribe.set(id, network.endpoint(id).onMessage((from, m) => { list.push({ from, n: m.n }) }))
  }
  const got = (id: NodeId, from?: NodeId): number[] => (received.get(id) ?? []).filter(r => from === undefined || r.from === from).map(r => r.n)
  return { network, got, unsubscribe, send: (from: NodeId, to: NodeId, n: number) => { network.endpoint(from).send(to, { n }) } }
}

describe('LocalNetwork', () => {
  it('delivers asynchronously, FIFO per sender→receiver pair, by reference', async () => {
    const { network, got, send } = setup()
    for (let i = 0; i < 50; i++) { send('a', 'c', i); send('b', 'c', 100 + i) }
    send('a', 'b', 7)
    // Never inside send: the runtime sends from within its own handlers.
    expect(got('c')).toEqual([])
    await settle()
    expect(got('c', 'a')).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(got('c', 'b')).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i))
    expect(got('b')).toEqual([7])

    const seen: Msg[] = []
    const net2 = new LocalNetwork<Msg>()
    net2.endpoint('x').onMessage((_from, m) => { seen.push(m) })
    const message = { n: 1 }
    net2.endpoint('y').send('x', message)
    await settle()
    expect(seen[0]).toBe(message)
    expect(network.stats()).toMatchObject({ endpoints: 3, connected: 3, sent: 101, delivered: 101, inFlight: 0 })
  })

  it('messages sent by a handler go out in a later round, still FIFO', async () => {
    const network = new LocalNetwork<Msg>()
    const order: string[] = []
    const b = network.endpoint('b')
    network.endpoint('a').onMessage((from, m) => { order.push(`a<-${from}:${m.n}`) })
    b.onMessage((from, m) => { order.push(`b<-${from}:${m.n}`); if (m.n < 3) b.send('a', { n: m.n * 10 }) })
    network.endpoint('a').send('b', { n: 1 })
    network.endpoint('a').send('b', { n: 2 })
    await settle()
    expect(order).toEqual(['b<-a:1', 'b<-a:2', 'a<-b:10', 'a<-b:20'])
  })

  it('a disconnected endpoint\'s sends and inbound deliveries are dropped, including those in flight', async () => {
    const { network, got, send } = setup()
    send('a', 'b', 1) // in flight when b is disconnected
    send('b', 'c', 2) // in flight from b
    network.disconnect('b')
    send('a', 'b', 3)
    send('b', 'a', 4)
    send('a', 'c', 5)
    expect(network.isConnected('b')).toBe(false)
    await settle()
    expect(got('b')).toEqual([])
    expect(got('a')).toEqual([])
    expect(got('c')).toEqual([5])
    const s = network.stats()
    expect(s.dropped.disconnected).toBe(4)
    expect(s.sent).toBe(5)
    expect(s.delivered).toBe(1)
    expect(s.connected).toBe(2)
    network.disconnect('b') // idempotent
  })

  it('a reconnected endpoint is a new incarnation: a new handler never sees messages sent before the disconnect', async () => {
    const { network, got, send, unsubscribe } = setup()
    send('a', 'b', 1)
    send('b', 'c', 2)
    // A crash and restart of b within one turn: halt (unsubscribe), disconnect, reconnect, new receiver.
    unsubscribe.get('b')?.()
    network.disconnect('b')
    network.reconnect('b')
    const fresh: number[] = []
    network.endpoint('b').onMessage((_from, m) => { fresh.push(m.n) })
    send('a', 'b', 3)
    await settle()
    expect(fresh).toEqual([3])
    expect(got('b')).toEqual([])
    // What b sent before its crash does not arrive either: the cable was pulled.
    expect(got('c')).toEqual([])
    expect(network.stats().dropped.stale).toBe(2)
    expect(network.isConnected('b')).toBe(true)
  })

  it('sends to an unknown id are dropped and counted, not thrown', async () => {
    const { network, send } = setup()
    expect(() => { send('a', 'nobody', 1) }).not.toThrow()
    await settle()
    expect(network.stats()).toMatchObject({ sent: 1, delivered: 0, dropped: { unknown: 1, disconnected: 0, stale: 0, noHandler: 0 } })
  })

  it('a message to an endpoint without a receiver is dropped and counted', async () => {
    const network = new LocalNetwork<Msg>()
    network.endpoint('quiet')
    network.endpoint('a').send('quiet', { n: 1 })
    await settle()
    expect(network.stats().dropped.noHandler).toBe(1)
  })

  it('one receiver per endpoint; a stale unsubscribe leaves the successor in place', async () => {
    const network = new LocalNetwork<Msg>()
    const ep = network.endpoint('a')
    expect(network.endpoint('a')).toBe(ep)
    const off = ep.onMessage(() => {})
    expect(() => ep.onMessage(() => {})).toThrow(LocalNetworkError)
    expect(() => ep.onMessage(() => {})).toThrow(expect.objectContaining({ code: 'ERR_ENDPOINT_IN_USE' }))
    off()
    const seen: number[] = []
    ep.onMessage((_f, m) => { seen.push(m.n) })
    off() // the first subscription's unsubscribe again: must not remove the new receiver
    network.endpoint('b').send('a', { n: 9 })
    await settle()
    expect(seen).toEqual([9])
  })

  it('a throwing handler reaches onError and the other deliveries go on', async () => {
    const errors: Array<{ error: unknown, to: NodeId }> = []
    const network = new LocalNetwork<Msg>({ onError: (error, to) => { errors.push({ error, to }) } })
    const seen: number[] = []
    network.endpoint('a').onMessage((_f, m) => { if (m.n === 1) throw new Error('bad message'); seen.push(m.n) })
    for (const n of [0, 1, 2]) network.endpoint('b').send('a', { n })
    await settle()
    expect(seen).toEqual([0, 2])
    expect(errors).toHaveLength(1)
    expect(errors[0]?.to).toBe('a')
    expect((errors[0]?.error as Error).message).toBe('bad message')
  })

  it('control calls on unknown ids and bad ids throw ERR_INVALID_ARGUMENT', () => {
    const network = new LocalNetwork<Msg>()
    expect(() => { network.disconnect('x') }).toThrow(InvalidArgumentError)
    expect(() => { network.reconnect('x') }).toThrow(InvalidArgumentError)
    expect(() => network.endpoint('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })
})
