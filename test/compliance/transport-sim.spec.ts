import type { WireMessage } from '../../src/contracts/index.js'
import { Prng } from '../../src/sim/prng.js'
import { Scheduler } from '../../src/sim/scheduler.js'
import { SimNetwork } from '../../src/sim/sim-network.js'
import { transportCompliance } from './transport.js'
import type { TransportFixture } from './transport.js'

transportCompliance('SimNetwork', async (): Promise<TransportFixture> => {
  const scheduler = new Scheduler()
  const net = new SimNetwork<WireMessage>(scheduler, new Prng(7))
  const ids = ['a', 'b', 'c']
  const endpoints = ids.map(id => ({ id, transport: net.endpoint(id) }))
  return {
    endpoints,
    // Virtual time: the budget is simulated milliseconds, run one at a time.
    async waitFor (predicate, budgetMs = 5000) {
      const deadline = scheduler.now() + budgetMs
      while (!predicate()) {
        if (scheduler.now() >= deadline) return false
        scheduler.runFor(1)
      }
      return true
    },
    async down (i) { net.disconnect(ids[i] as string) },
    async up (i) {
      const id = ids[i] as string
      net.reconnect(id)
      return { id, transport: net.endpoint(id) }
    },
    async stranger () { return { id: 'stranger', transport: net.endpoint('stranger') } },
    refusesStrangers: false,
    frameBytesMax: undefined,
    async close () {}
  }
})
