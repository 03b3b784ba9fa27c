import { afterEach, describe, expect, it } from 'vitest'
import type { NodeId } from '../../../src/paxos/types.js'
import { KvStateMachine } from '../../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../../src/sim/kv.js'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import { LocalNetwork } from '../../../src/vpeer/local-network.js'
import { SystemClock } from '../../../src/vpeer/system-clock.js'
import { systemRandom } from '../../../src/vpeer/system-random.js'
import { VirtualPeer } from '../../../src/vpeer/virtual-peer.js'
import { markCount } from '../../../src/util/marks.js'

// Issue 7 §2, as it was found: from outside, through LocalNetwork, with real timers. One
// malformed message from a stranger killed the process (an uncaught TypeError out of the
// transport handler); one message from a member id halted that node.

type Peer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>
const IDS = ['a', 'b', 'c']
const B = { round: 1, node: 'a' }

/** The messages of the issue, each of which killed the process or halted a node. */
const ISSUE_MESSAGES: Array<[string, unknown]> = [
  ['catchupReply with entries: 5', { type: 'catchupReply', entries: 5 }],
  ['null', null],
  ['heartbeat with no ballot', { type: 'heartbeat', commitIndex: 0, readSeq: 0 }],
  ['catchupReply with an entry of null', { type: 'catchupReply', entries: [null], commitIndex: 1 }],
  ['forward whose commands is not an array', { type: 'forward', commands: 5 }],
  ['accept with slot NaN', { type: 'accept', ballot: B, slot: Number.NaN, value: { id: 'x', commands: [] }, commitIndex: 0 }],
  ['accept with slot 6.5', { type: 'accept', ballot: B, slot: 6.5, value: { id: 'x', commands: [] }, commitIndex: 0 }],
  ['accept without value', { type: 'accept', ballot: B, slot: 6, commitIndex: 0 }],
  ['prepare with round Infinity', { type: 'prepare', ballot: { round: Infinity, node: 'a' }, fromSlot: 1, transfer: false }],
  ['prepare with round MAX_SAFE_INTEGER', { type: 'prepare', ballot: { round: Number.MAX_SAFE_INTEGER, node: 'a' }, fromSlot: 1, transfer: true }],
  ['undefined', undefined],
  ['an array', [{ type: 'heartbeat' }]],
  ['a ballot node with a lone surrogate (storage refuses it)', { type: 'prepare', ballot: { round: 50, node: 'a\ud800' }, fromSlot: 1, transfer: true }]
]

let peers: Peer[] = []
let clock: SystemClock | undefined

afterEach(async () => {
  await Promise.all(peers.map(async p => { await p.stop() }))
  peers = []
  clock?.stop()
})

async function group (): Promise<{ network: LocalNetwork<unknown>, errors: unknown[], halted: string[] }> {
  const errors: unknown[] = []
  const halted: string[] = []
  const network = new LocalNetwork<unknown>({ onError: error => { errors.push(error) } })
  clock = new SystemClock()
  for (const id of IDS) {
    const peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id,
      configuration: { epoch: 0, voters: IDS, learners: [] },
      transport: network.endpoint(id) as never,
      storage: new MemoryStorage(),
      clock,
      random: systemRandom(),
      stateMachine: new KvStateMachine()
    })
    peer.addEventListener('error', e => { halted.push(`${id}: ${String(e.detail.error)}`) })
    peers.push(peer)
    peer.start()
  }
  network.endpoint('evil')
  return { network, errors, halted }
}

async function until (what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

const leaderOf = (): Peer | undefined => peers.find(p => p.status().role === 'leader')
const dropped = (): number => peers.reduce((n, p) => n + p.status().droppedMessages, 0)

describe('hostile messages through LocalNetwork (issue 7 §2)', () => {
  it('none of the messages of the issue, from a stranger or from a member id, throws out of the handler, halts a node or stops the group', async () => {
    const { network, errors, halted } = await group()
    await until('a leader', () => leaderOf() !== undefined)
    const leader = leaderOf() as Peer
    expect(await leader.submit({ f: 'write', key: 'k', value: 1 })).toEqual({ ok: true })
    const marksBefore = markCount('wire: invalid message dropped')

    let sent = 0
    for (const [, message] of ISSUE_MESSAGES) {
      for (const from of ['evil', ...IDS]) {
        for (const to of IDS) {
          if (to === from) continue
          network.endpoint(from).send(to, message)
          sent++
        }
      }
    }
    await until('every message delivered', () => network.stats().inFlight === 0)
    expect(errors).toEqual([])
    expect(halted).toEqual([])
    for (const p of peers) expect(p.running).toBe(true)
    expect(dropped()).toBe(sent)
    expect(markCount('wire: invalid message dropped') - marksBefore).toBe(sent)
    const reasons = peers.map(p => p.status().droppedByReason)
    expect(reasons.reduce((n, r) => n + r.shape + r.field + r.range, 0)).toBe(sent)

    // The group goes on: a write through a follower and a linearizable read.
    const follower = peers.find(p => p !== leaderOf()) as Peer
    expect(await follower.submit({ f: 'write', key: 'k', value: 2 })).toEqual({ ok: true })
    expect(await follower.read({ key: 'k' })).toBe(2)
    for (const p of peers) expect(p.running).toBe(true)
  })

  it('a sender id that is not a node id is refused as such', async () => {
    const { network, errors } = await group()
    network.endpoint('\ud800').send('a', { type: 'probe', ballot: B, transfer: false })
    network.endpoint('x'.repeat(2000)).send('a', { type: 'probe', ballot: B, transfer: false })
    await until('delivery', () => network.stats().inFlight === 0)
    expect(errors).toEqual([])
    expect(peers[0]?.status().droppedByReason.sender).toBe(2)
  })

  it('an exception while handling a valid message halts only that replica, with an error event, and never leaves the handler', async () => {
    const { network, errors, halted } = await group()
    await until('a leader', () => leaderOf() !== undefined)
    const victim = peers[1] as Peer
    // Stand-in for a bug of ours: snapshot transfer throws on a message.
    victim.snapshotTransfer.onMessage = () => { throw new Error('planted bug') }
    network.endpoint('evil').send('b', { type: 'snapshotDone', root: 'ab'.repeat(32), index: 1 })
    await until('delivery', () => network.stats().inFlight === 0)
    expect(errors).toEqual([])
    expect(halted).toEqual(['b: Error: planted bug'])
    expect(victim.running).toBe(false)
    expect(peers.filter(p => p.running)).toHaveLength(2)
  })
})

export type { NodeId }
