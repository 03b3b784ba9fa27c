import { setImmediate as turn } from 'node:timers/promises'
import type { WireMessage } from '../../src/contracts/index.js'
import { LocalNetwork } from '../../src/vpeer/local-network.js'
import { transportCompliance } from './transport.js'
import type { TransportFixture } from './transport.js'

transportCompliance('LocalNetwork', async (): Promise<TransportFixture> => {
  const net = new LocalNetwork<WireMessage>()
  const ids = ['a', 'b', 'c']
  const endpoints = ids.map(id => ({ id, transport: net.endpoint(id) }))
  return {
    endpoints,
    async waitFor (predicate, budgetMs = 5000) {
      const deadline = Date.now() + budgetMs
      while (!predicate()) {
        if (Date.now() > deadline) return false
        await turn()
      }
      return true
    },
    async down (i) { net.disconnect(ids[i] as string) },
    async up (i) {
      net.reconnect(ids[i] as string)
      return endpoints[i] as TransportFixture['endpoints'][number]
    },
    async stranger () { return { id: 'stranger', transport: net.endpoint('stranger') } },
    refusesStrangers: false,
    frameBytesMax: undefined,
    async close () {}
  }
})
