import { describe, expect, it } from 'vitest'
import { markCount } from '../../src/util/marks.js'
import { expectNotInstalled, forgedSnapshotWorld } from './forged-snapshot.js'

// A snapshot manifest authenticates itself only relative to its root: whoever offers it must be
// trusted. A stranger could otherwise make a replica install any state it likes, with itself as
// the only voter, by offering a self-consistent manifest and serving its chunks.

describe('snapshot offers from peers nobody asked', () => {
  it('a stranger\'s unsolicited, self-consistent forged snapshot (any state, itself the only voter) is never installed', async () => {
    const w = await forgedSnapshotWorld()
    const installsBefore = markCount('vpeer: snapshot installed from a peer')
    const dropsBefore = markCount('vpeer: unsolicited snapshot offer dropped')
    w.offer()
    await w.cluster.scheduler.runForAsync(1000)
    expect(markCount('vpeer: unsolicited snapshot offer dropped')).toBe(dropsBefore + 1)
    await expectNotInstalled(w, installsBefore)
  })
})
