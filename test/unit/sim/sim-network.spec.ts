import { describe, it, expect } from 'vitest'
import type { NodeId } from '../../../src/paxos/types.js'
import { Prng } from '../../../src/sim/prng.js'
import { Scheduler } from '../../../src/sim/scheduler.js'
import { SimNetwork } from '../../../src/sim/sim-network.js'
import type { NetworkFaults, NetworkStats, NetworkTraceEvent } from '../../../src/sim/sim-network.js'
import { InvalidSimOptionError } from '../../../src/sim/sim-errors.js'
import { AssertionError } from '../../../src/util/assert.js'

interface Msg { readonly n: number }

function setup (faults: Partial<NetworkFaults> = {}, seed = 1, ids: NodeId[] = ['n1', 'n2', 'n3']) {
  const scheduler = new Scheduler()
  const network = new SimNetwork<Msg>(scheduler, new Prng(seed), faults)
  const received = new Map<NodeId, Array<{ from: NodeId, n: number }>>()
  for (const id of ids) {
    const list: Array<{ from: NodeId, n: number }> = []
    received.set(id, list)
    network.endpoint(id).onMessage((from, message) => { list.push({ from, n: message.n }) })
  }
  const got = (id: NodeId): number[] => received.get(id)!.map(r => r.n)
  return { scheduler, network, received, got }
}

function balanced (stats: NetworkStats): boolean {
  return stats.sent + stats.duplicated ===
    stats.delivered + stats.dropped + stats.droppedPartition + stats.droppedDown + stats.inFlight
}

describe('SimNetwork', () => {
  it('delivers by reference after a delay within the configured range', () => {
    const { scheduler, network, received } = setup({ delayMs: { min: 5, max: 8 } })
    const message = { n: 1 }
    const times: number[] = []
    network.endpoint('n2').onMessage((from, m) => { times.push(scheduler.now()); received.get('n2')!.push({ from, n: m.n }); expect(m).toBe(message) })
    network.endpoint('n1').send('n2', message)
    scheduler.runUntilIdle()
    expect(times.length).toBe(1)
    expect(times[0]).toBeGreaterThanOrEqual(5)
    expect(times[0]).toBeLessThanOrEqual(8)
    expect(received.get('n2')).toEqual([{ from: 'n1', n: 1 }])
    expect(network.stats()).toMatchObject({ sent: 1, delivered: 1, inFlight: 0 })
  })

  it('returns the same transport for a node until it crashes', () => {
    const { network } = setup()
    expect(network.endpoint('n1')).toBe(network.endpoint('n1'))
  })

  it('loses about lossRate of 10k messages', () => {
    const { scheduler, network, got } = setup({ lossRate: 0.2 })
    const t = network.endpoint('n1')
    for (let i = 0; i < 10_000; i++) t.send('n2', { n: i })
    scheduler.runUntilIdle()
    const stats = network.stats()
    expect(stats.dropped / 10_000).toBeGreaterThan(0.18)
    expect(stats.dropped / 10_000).toBeLessThan(0.22)
    expect(got('n2').length).toBe(stats.delivered)
    expect(stats.delivered + stats.dropped).toBe(10_000)
    expect(balanced(stats)).toBe(true)
  })

  it('delivers duplicates, each with its own delay', () => {
    const { scheduler, network, got } = setup({ duplicateRate: 0.5, delayMs: { min: 1, max: 100 } })
    const t = network.endpoint('n1')
    for (let i = 0; i < 1000; i++) t.send('n2', { n: i })
    scheduler.runUntilIdle()
    const stats = network.stats()
    expect(stats.duplicated).toBeGreaterThan(400)
    expect(stats.duplicated).toBeLessThan(600)
    expect(got('n2').length).toBe(1000 + stats.duplicated)
    const twice = new Set(got('n2').filter((n, i, all) => all.indexOf(n) !== i))
    expect(twice.size).toBe(stats.duplicated)
    expect(balanced(stats)).toBe(true)
  })

  it('reorders messages through random delays and reorderRate', () => {
    const { scheduler, network, got } = setup({ delayMs: { min: 1, max: 2 }, reorderRate: 0.3 })
    const t = network.endpoint('n1')
    for (let i = 0; i < 200; i++) scheduler.at(i, () => { t.send('n2', { n: i }) })
    scheduler.runUntilIdle()
    const order = got('n2')
    expect(order.length).toBe(200)
    expect(order).not.toEqual([...order].sort((a, b) => a - b))
  })

  it('a symmetric partition separates groups in both directions, and heal rejoins them', () => {
    const { scheduler, network, got } = setup()
    network.partition([['n1'], ['n2', 'n3']])
    expect(network.connected('n1', 'n2')).toBe(false)
    expect(network.connected('n2', 'n1')).toBe(false)
    network.endpoint('n1').send('n2', { n: 1 })
    network.endpoint('n2').send('n1', { n: 2 })
    network.endpoint('n2').send('n3', { n: 3 })
    network.endpoint('n1').send('n1', { n: 4 })
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([])
    expect(got('n1')).toEqual([4])
    expect(got('n3')).toEqual([3])
    expect(network.stats().droppedPartition).toBe(2)
    network.heal()
    network.endpoint('n1').send('n2', { n: 5 })
    network.endpoint('n2').send('n1', { n: 6 })
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([5])
    expect(got('n1')).toEqual([4, 6])
  })

  it('nodes left out of a partition form one group of their own', () => {
    const { network } = setup({}, 1, ['n1', 'n2', 'n3', 'n4'])
    network.partition([['n1', 'n2']])
    expect(network.connected('n3', 'n4')).toBe(true)
    expect(network.connected('n3', 'n1')).toBe(false)
    expect(() => network.partition([['n1'], ['n1', 'n2']])).toThrow(AssertionError)
  })

  it('a one-way block cuts only one direction', () => {
    const { scheduler, network, got } = setup()
    network.blockOneWay('n1', 'n2')
    network.endpoint('n1').send('n2', { n: 1 })
    network.endpoint('n2').send('n1', { n: 2 })
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([])
    expect(got('n1')).toEqual([2])
    network.unblockOneWay('n1', 'n2')
    network.endpoint('n1').send('n2', { n: 3 })
    network.blockOneWay('n2', 'n3')
    network.heal()
    network.endpoint('n2').send('n3', { n: 4 })
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([3])
    expect(got('n3')).toEqual([4])
  })

  it('a partition made while a message is in flight drops it', () => {
    const { scheduler, network, got } = setup({ delayMs: { min: 10, max: 10 } })
    network.endpoint('n1').send('n2', { n: 1 })
    scheduler.runFor(5)
    network.partition([['n1'], ['n2']])
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([])
    expect(network.stats().droppedPartition).toBe(1)
  })

  it('a clogged path holds messages and releases them in order', () => {
    const { scheduler, network, got } = setup({ delayMs: { min: 1, max: 1 } })
    network.clog('n1', 'n2', 50)
    for (let i = 0; i < 3; i++) network.endpoint('n1').send('n2', { n: i })
    scheduler.runFor(49)
    expect(got('n2')).toEqual([])
    expect(network.stats().inFlight).toBe(3)
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([0, 1, 2])
    expect(scheduler.now()).toBe(50)
    network.clog('n1', 'n3')
    network.endpoint('n1').send('n3', { n: 9 })
    scheduler.runFor(100)
    expect(got('n3')).toEqual([])
    network.heal()
    scheduler.runUntilIdle()
    expect(got('n3')).toEqual([9])
    expect(balanced(network.stats())).toBe(true)
  })

  it('disconnect drops in-flight messages to the node and all its own traffic', () => {
    const { scheduler, network, got } = setup({ delayMs: { min: 10, max: 10 } })
    const t3 = network.endpoint('n3')
    network.endpoint('n1').send('n3', { n: 1 })
    t3.send('n2', { n: 2 }) // Already on the wire when n3 crashes: still arrives.
    scheduler.runFor(5)
    network.disconnect('n3')
    expect(network.isUp('n3')).toBe(false)
    t3.send('n1', { n: 3 })
    network.endpoint('n2').send('n3', { n: 4 })
    scheduler.runUntilIdle()
    expect(got('n3')).toEqual([])
    expect(got('n2')).toEqual([2])
    expect(got('n1')).toEqual([])
    const stats = network.stats()
    expect(stats.droppedDown).toBe(3)
    expect(balanced(stats)).toBe(true)
  })

  it('a restarted node never receives what was sent to its previous incarnation', () => {
    const { scheduler, network, got } = setup({ delayMs: { min: 10, max: 10 } })
    const old = network.endpoint('n2')
    const oldReceived: number[] = []
    old.onMessage((_from, m) => { oldReceived.push(m.n) })
    network.endpoint('n1').send('n2', { n: 1 }) // Before the crash.
    scheduler.runFor(2)
    network.disconnect('n2')
    scheduler.runFor(2)
    network.endpoint('n1').send('n2', { n: 2 }) // While down: may arrive after the restart.
    scheduler.runFor(2)
    network.reconnect('n2')
    const fresh = network.endpoint('n2')
    expect(fresh).not.toBe(old)
    const newReceived: number[] = []
    fresh.onMessage((_from, m) => { newReceived.push(m.n) })
    expect(() => old.onMessage(() => {})).toThrow(AssertionError)
    old.send('n1', { n: 3 }) // A leftover of the dead incarnation: dropped.
    network.endpoint('n1').send('n2', { n: 4 })
    fresh.send('n1', { n: 5 })
    scheduler.runUntilIdle()
    expect(oldReceived).toEqual([])
    expect(newReceived).toEqual([2, 4])
    expect(got('n1')).toEqual([5])
  })

  it('replacing a handler drops what was in flight to the replaced one', () => {
    const { scheduler, network } = setup({ delayMs: { min: 10, max: 10 } })
    const t2 = network.endpoint('n2')
    const first: number[] = []
    const second: number[] = []
    const unsubscribe = t2.onMessage((_from, m) => { first.push(m.n) })
    network.endpoint('n1').send('n2', { n: 1 })
    scheduler.runFor(5)
    unsubscribe()
    t2.onMessage((_from, m) => { second.push(m.n) })
    network.endpoint('n1').send('n2', { n: 2 })
    t2.send('n2', { n: 3 }) // The same transport object still sends after the replacement.
    scheduler.runUntilIdle()
    expect(first).toEqual([])
    expect(second).toEqual([2, 3])
  })

  it('an unsubscribed handler receives nothing', () => {
    const { scheduler, network } = setup()
    const got: number[] = []
    const unsubscribe = network.endpoint('n2').onMessage((_f, m) => { got.push(m.n) })
    unsubscribe()
    network.endpoint('n1').send('n2', { n: 1 })
    network.endpoint('n1').send('nobody', { n: 2 })
    scheduler.runUntilIdle()
    expect(got).toEqual([])
    expect(network.stats().droppedDown).toBe(2)
  })

  it('the same seed gives the same delivery trace', () => {
    function run (seed: number): string {
      const scheduler = new Scheduler()
      const prng = new Prng(seed)
      const network = new SimNetwork<Msg>(scheduler, prng.fork('network'), {
        lossRate: 0.1, duplicateRate: 0.05, reorderRate: 0.1, delayTailMeanMs: 5
      })
      const trace: Array<NetworkTraceEvent<Msg>> = []
      network.onTrace = event => { trace.push(event) }
      const ids = ['n1', 'n2', 'n3', 'n4', 'n5']
      const traffic = prng.fork('traffic')
      let counter = 0
      for (const id of ids) {
        const t = network.endpoint(id)
        t.onMessage((_from, m) => {
          if (m.n < 2000) t.send(traffic.pick(ids), { n: m.n + 100 + counter++ })
        })
      }
      for (let i = 0; i < 50; i++) network.endpoint(traffic.pick(ids)).send(traffic.pick(ids), { n: i })
      scheduler.at(40, () => { network.partition([['n1', 'n2'], ['n3', 'n4', 'n5']]) })
      scheduler.at(80, () => { network.heal() })
      scheduler.runUntil(500)
      expect(trace.length).toBeGreaterThan(100)
      return JSON.stringify(trace)
    }
    const first = run(42)
    expect(run(42)).toBe(first)
    expect(run(43)).not.toBe(first)
  })

  it('setFaults changes settings at run time and validates them with a typed error', () => {
    const { scheduler, network, got } = setup()
    network.setFaults({ lossRate: 1 })
    network.endpoint('n1').send('n2', { n: 1 })
    network.setFaults({ lossRate: 0, delayMs: { min: 3, max: 3 } })
    network.endpoint('n1').send('n2', { n: 2 })
    scheduler.runUntilIdle()
    expect(got('n2')).toEqual([2])
    expect(scheduler.now()).toBe(3)
    expect(network.faults().delayMs).toEqual({ min: 3, max: 3 })
    expect(() => network.setFaults({ lossRate: 1.5 })).toThrow(InvalidSimOptionError)
    expect(() => network.setFaults({ delayMs: { min: 5, max: 1 } })).toThrow(InvalidSimOptionError)
    expect(() => new SimNetwork<Msg>(scheduler, new Prng(1), { duplicateRate: -0.1 })).toThrow(InvalidSimOptionError)
    expect(network.faults().lossRate).toBe(0)
  })

  it('works with the async scheduler variants', async () => {
    const { scheduler, network, got } = setup()
    const t2 = network.endpoint('n2')
    t2.onMessage((from, m) => {
      void (async () => {
        await Promise.resolve()
        t2.send(from, { n: m.n * 10 })
      })()
    })
    network.endpoint('n1').send('n2', { n: 7 })
    await scheduler.runUntilIdleAsync()
    expect(got('n1')).toEqual([70])
  })
})
