import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import { StorageClosedError } from '../../../src/storage/errors.js'
import { AbortError, CodedError, NoQuorumError, StoppedError } from '../../../src/vpeer/errors.js'
import type { NodeId } from '../../../src/paxos/types.js'
import { PeerWorld, rejectionOf } from './world.js'

const IDS = ['n1', 'n2', 'n3']

async function isolatedMember (): Promise<{ world: PeerWorld, lone: NodeId }> {
  const world = new PeerWorld({ ids: IDS }, () => new MemoryStorage())
  await world.bootAll()
  await world.electLeader()
  const lone = 'n1'
  for (const id of IDS) if (id !== lone) world.crash(id)
  return { world, lone }
}

describe('VirtualPeer events are typed', () => {
  it('leader events carry the leader and the role without a cast', async () => {
    const world = new PeerWorld({ ids: IDS }, () => new MemoryStorage())
    await world.bootAll()
    const seen: Array<{ leader: NodeId | undefined, role: string }> = []
    // No cast: `e` is CustomEvent<{ leader, role }> (this file would not type-check otherwise).
    world.peer('n2').addEventListener('leader', e => { seen.push({ leader: e.detail.leader, role: e.detail.role }) })
    const leader = await world.electLeader()
    expect(seen.some(s => s.leader === leader)).toBe(true)
    const applied: number[] = []
    world.peer('n2').addEventListener('applied', e => { applied.push(e.detail.index) })
    await world.settle(world.peer(leader).submit({ f: 'write', key: 'k', value: 1 }))
    await world.runFor(200)
    expect(applied.length).toBeGreaterThan(0)
    await world.stopAll()
  })
})

describe('whenLeader', () => {
  it('resolves at once when a leader is known, and after the election otherwise', async () => {
    const world = new PeerWorld({ ids: IDS }, () => new MemoryStorage())
    await world.bootAll()
    const waiting = world.peer('n3').whenLeader()
    const leader = await world.settle(waiting)
    expect(leader).toBe(await world.electLeader())
    await expect(world.peer('n3').whenLeader()).resolves.toBe(leader)
    await world.stopAll()
  })

  it('rejects with NoQuorumError when the signal fires while no leader is known', async () => {
    const { world, lone } = await isolatedMember()
    await world.runFor(5_000) // check-quorum: the lone node stops believing in a leader
    expect(world.peer(lone).status().leader).toBeUndefined()
    const ctl = new AbortController()
    const waiting = world.peer(lone).whenLeader({ signal: ctl.signal })
    await world.runFor(1_000)
    ctl.abort()
    const error = await rejectionOf(waiting)
    expect(error).toBeInstanceOf(NoQuorumError)
    expect((error as NoQuorumError).code).toBe('ERR_NO_QUORUM')
    await world.stopAll()
  })

  it('rejects with StoppedError when the peer stops', async () => {
    const { world, lone } = await isolatedMember()
    await world.runFor(5_000)
    const waiting = world.peer(lone).whenLeader()
    await world.peer(lone).stop()
    expect(await rejectionOf(waiting)).toBeInstanceOf(StoppedError)
    await world.stopAll()
  })
})

describe('a call that cannot reach a quorum says so', () => {
  it('a submit in a minority fails with ERR_NO_QUORUM after noQuorumTimeoutMs, telling how long it waited', async () => {
    const { world, lone } = await isolatedMember()
    const submitted = world.peer(lone).submit({ f: 'write', key: 'x', value: 1 })
    const error = await world.settle(submitted, 60_000).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(NoQuorumError)
    const e = error as NoQuorumError
    expect(e).toBeInstanceOf(CodedError)
    expect(e.code).toBe('ERR_NO_QUORUM')
    // Default 30 s of no leader; the lone node lost its leader a few election timeouts after the crash.
    expect(e.noLeaderMs).toBeGreaterThanOrEqual(30_000)
    expect(e.waitedMs).toBeGreaterThanOrEqual(e.noLeaderMs)
    expect(e.message).toMatch(/no quorum reachable from n1 \(no leader known for the last \d+ ms of the \d+ ms waited\)/)
    await world.stopAll()
  })

  it('a read and a submit whose signal fires without a leader reject with NoQuorumError, with a leader with AbortError', async () => {
    const world = new PeerWorld({ ids: IDS }, () => new MemoryStorage())
    await world.bootAll()
    const leader = await world.electLeader()
    // With a leader known: the caller merely stopped waiting.
    const ctl1 = new AbortController()
    const healthy = world.peer(leader).read({ key: 'x' }, { signal: ctl1.signal })
    ctl1.abort()
    const plain = await rejectionOf(healthy)
    expect(plain).toBeInstanceOf(AbortError)
    expect((plain as AbortError).code).toBe('ERR_ABORTED')
    for (const id of IDS) if (id !== leader) world.crash(id)
    await world.runFor(5_000)
    const ctl2 = new AbortController()
    const read = world.peer(leader).read({ key: 'x' }, { signal: ctl2.signal })
    const write = world.peer(leader).submit({ f: 'write', key: 'x', value: 2 }, { signal: ctl2.signal })
    await world.runFor(2_000)
    ctl2.abort(new Error('gave up'))
    for (const p of [read, write]) {
      const error = await rejectionOf(p)
      expect(error).toBeInstanceOf(NoQuorumError)
      expect((error as NoQuorumError).waitedMs).toBeGreaterThanOrEqual(2_000)
      expect(((error as NoQuorumError).cause as Error).message).toBe('gave up')
    }
    await world.stopAll()
  })
})

describe('stop({ closeStorage })', () => {
  it('leaves the storage open by default and closes it when asked', async () => {
    const world = new PeerWorld({ ids: IDS }, () => new MemoryStorage())
    await world.bootAll()
    await world.electLeader()
    await world.peer('n2').stop()
    await expect(world.storage('n2').inner.load()).resolves.toBeDefined()
    await world.peer('n3').stop({ closeStorage: true })
    await expect(world.storage('n3').inner.load()).rejects.toBeInstanceOf(StorageClosedError)
    await world.stopAll()
  })
})
