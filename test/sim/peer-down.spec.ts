import { describe, expect, it } from 'vitest'
import { parseFaults } from '../../src/sim/vopr.js'
import { markCount } from '../../src/util/marks.js'
import { sweep } from './sweep.js'

// The network runtime tells a node when a peer's connection resets (libp2p peer:disconnect);
// followers of a crashed leader then campaign at once. Here every crash is announced so: the
// faster elections must keep every checker green, and the path must really be taken.
describe('simulation: crashes announced to peers (Transport.onPeerDown)', () => {
  it('nemesis seeds 700001–700025 (3 and 5 nodes, every fault) pass every checker, with early campaigns', async () => {
    const before = markCount('follower: connection to the leader broke, campaigning soon')
    await sweep(700_001, 700_025, { intensity: 'nemesis', faults: parseFaults('all,peerDown') })
    expect(markCount('follower: connection to the leader broke, campaigning soon') - before).toBeGreaterThan(10)
  })
})
