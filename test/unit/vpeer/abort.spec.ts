import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import { AbortError } from '../../../src/vpeer/errors.js'
import { PaxosNode } from '../../../src/paxos/node.js'
import { PeerWorld, rejectionOf } from './world.js'

describe('abort before start', () => {
  it('an already-aborted signal rejects submit/read with the VirtualPeer AbortError (ERR_ABORTED)', async () => {
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'] }, () => new MemoryStorage())
    await world.bootAll()
    const p = world.peer('n1')
    const signal = AbortSignal.abort()
    const e1 = await rejectionOf(p.submit({ f: 'write', key: 'x', value: 1 }, { signal }))
    const e2 = await rejectionOf(p.read({ key: 'x' }, { signal }))
    
    expect(e1).toBeInstanceOf(AbortError)
    expect(e2).toBeInstanceOf(AbortError)
    await world.stopAll()
  })
})
