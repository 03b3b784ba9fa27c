import { describe, expect, it } from 'vitest'
import type { ApplyContext, StateMachine } from '../../../src/contracts/index.js'
import { SimCluster } from '../../../src/sim/cluster.js'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import { SessionExpiredError } from '../../../src/vpeer/errors.js'
import { PeerWorld, rejectionOf } from './world.js'

/** Remembers the context of every command it applied. */
class Recorder implements StateMachine<number, number, 'count', number> {
  readonly seen: ApplyContext[] = []
  apply (_n: number, ctx: ApplyContext): number { this.seen.push(ctx); return this.seen.length }
  query (): number { return this.seen.length }
  snapshot (): Uint8Array { return new TextEncoder().encode(JSON.stringify(this.seen)) }
  restore (bytes: Uint8Array): void { this.seen.splice(0, this.seen.length, ...(JSON.parse(new TextDecoder().decode(bytes)) as ApplyContext[])) }
  digest (): string { return JSON.stringify(this.seen) }
}

describe('proposal time (ApplyContext.proposedAtMs)', () => {
  it('is chosen with the value by the leader, identical on every replica, and never goes back under one leader', async () => {
    const cluster = new SimCluster<number, number, 'count', number>({ seed: 7, nodes: 3, clockSkew: 0.2, stateMachine: () => new Recorder() })
    await cluster.start()
    for (let t = 0; t < 300 && cluster.leader() === undefined; t++) await cluster.scheduler.runForAsync(10)
    const leader = cluster.leader()
    if (leader === undefined) throw new Error('no leader')
    for (let i = 0; i < 30; i++) {
      const p = cluster.peer(leader)?.submit(i)
      await cluster.scheduler.runForAsync(37)
      await p
    }
    await cluster.scheduler.runForAsync(500)
    const seen = cluster.ids.map(id => (cluster.stateMachine(id) as Recorder).seen)
    expect(seen[0]).toHaveLength(30)
    for (const s of seen) expect(s).toEqual(seen[0])
    const times = (seen[0] ?? []).map(c => c.proposedAtMs)
    expect(times.every((t, i) => i === 0 || t >= (times[i - 1] ?? 0))).toBe(true)
    // The leader's (skewed) clock, not 0 and not each replica's own.
    expect(times[29]).toBeGreaterThan(times[0] ?? 0)
    expect(times[29]).toBeGreaterThan(800)
    cluster.haltAll()
  })
})

describe('session expiry through the runtime', () => {
  it('a retry of a session idle for sessionTtlMs fails with ERR_SESSION_EXPIRED on every replica; after another TTL the client id is new again', async () => {
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'], sessionTtlMs: 1000 }, () => new MemoryStorage())
    await world.bootAll()
    const leader = await world.electLeader()
    const session = { client: 'short-lived', seq: 1 }
    await world.settle(world.peer(leader).submit({ f: 'write', key: 'x', value: 1 }, { session }))
    // A retry inside the TTL is answered from the table.
    expect(await world.settle(world.peer('n2').submit({ f: 'write', key: 'x', value: 1 }, { session }))).toEqual({ ok: true })
    // Other clients' traffic moves the log's clock past the TTL.
    for (let i = 0; i < 12; i++) {
      await world.settle(world.peer(leader).submit({ f: 'write', key: 'y', value: i }))
      await world.runFor(100)
    }
    const retried = await rejectionOf(world.settle(world.peer('n3').submit({ f: 'write', key: 'x', value: 1 }, { session })))
    expect(retried).toBeInstanceOf(SessionExpiredError)
    expect((retried as SessionExpiredError).code).toBe('ERR_SESSION_EXPIRED')
    // The write was not run a second time.
    expect(await world.settle(world.peer(leader).read({ key: 'x' }))).toBe(1)
    for (let i = 0; i < 12; i++) {
      await world.settle(world.peer(leader).submit({ f: 'write', key: 'y', value: i }))
      await world.runFor(100)
    }
    expect(await world.settle(world.peer(leader).submit({ f: 'write', key: 'x', value: 2 }, { session }))).toEqual({ ok: true })
    await world.stopAll()
  })
})
