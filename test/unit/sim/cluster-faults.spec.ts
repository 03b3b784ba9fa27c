import { afterEach, describe, expect, it } from 'vitest'
import { SimCluster } from '../../../src/sim/cluster.js'
import { InvalidSimOptionError, UnknownNodeError } from '../../../src/sim/sim-errors.js'
import type { NodeId } from '../../../src/paxos/types.js'
import type { ApplyContext, StateMachine } from '../../../src/contracts/index.js'

/** A non-KV application: a set of tags; `add` answers the set's size, `has` whether a tag is in it. */
class Tags implements StateMachine<{ tag: string }, number, { has: string }, boolean> {
  private tags = new Set<string>()
  constructor (private readonly salt = '') {}
  apply (command: { tag: string }, _ctx: ApplyContext): number {
    // `salt` makes apply depend on the replica: the nondeterminism replica equality must catch.
    this.tags.add(command.tag + this.salt)
    return this.tags.size
  }

  query (query: { has: string }): boolean { return this.tags.has(query.has) }
  snapshot (): Uint8Array { return new TextEncoder().encode(JSON.stringify([...this.tags].sort())) }
  restore (bytes: Uint8Array): void { this.tags = new Set(JSON.parse(new TextDecoder().decode(bytes)) as string[]) }
}

let cluster: SimCluster<{ tag: string }, number, { has: string }, boolean> | undefined
afterEach(() => { cluster?.haltAll() })

async function started (options: { seed: number, stateMachine?: (id: NodeId) => Tags, snapshotEverySlots?: number }): Promise<{ c: NonNullable<typeof cluster>, trace: string[] }> {
  const trace: string[] = []
  const c = new SimCluster({ nodes: 3, stateMachine: () => new Tags(), trace: line => { trace.push(line) }, ...options })
  cluster = c
  await c.start()
  await until(c, () => c.leader() !== undefined, 3000, 'a leader')
  await c.scheduler.runForAsync(100)
  return { c, trace }
}

async function until (c: SimCluster<never, unknown, never, unknown> | NonNullable<typeof cluster>, cond: () => boolean, maxMs: number, what: string): Promise<void> {
  const end = c.scheduler.now() + maxMs
  while (!cond()) {
    if (c.scheduler.now() >= end) throw new Error(`no ${what} within ${maxMs} ms`)
    await c.scheduler.runForAsync(10)
  }
}

/** Submits through `via` and runs virtual time until it settles. */
async function add (c: NonNullable<typeof cluster>, via: NodeId, tag: string, limitMs = 3000): Promise<number | Error> {
  const peer = c.peer(via)
  if (peer === undefined) throw new Error(`${via} is down`)
  const ctl = new AbortController()
  let outcome: number | Error | undefined
  peer.submit({ tag }, { signal: ctl.signal }).then(n => { outcome = n }, (e: unknown) => { outcome = e as Error })
  const end = c.scheduler.now() + limitMs
  while (outcome === undefined && c.scheduler.now() < end) await c.scheduler.runForAsync(5)
  if (outcome === undefined) ctl.abort()
  await c.scheduler.runForAsync(1)
  return outcome ?? new Error('no answer')
}

describe('SimCluster with an application\'s own state machine', () => {
  it('runs it, and compares replicas by a hash of their snapshot', async () => {
    const { c } = await started({ seed: 11 })
    const leader = c.leader() as NodeId
    expect(await add(c, leader, 'a')).toBe(1)
    expect(await add(c, leader, 'b')).toBe(2)
    await c.scheduler.runForAsync(200)
    const digests = new Set(c.ids.map(id => c.digest(id)))
    expect(digests.size).toBe(1)
    expect(c.stateMachine(leader)?.query({ has: 'b' })).toBe(true)
    // Validity needs proposals registered with the checker, which only the simulated clients do.
    expect(c.checker.violations.filter(v => v.kind !== 'validity')).toEqual([])
  })

  it('reports a state machine whose replicas diverge (replica equality on the default digest)', async () => {
    const { c } = await started({ seed: 12, stateMachine: id => new Tags(id) })
    await add(c, c.leader() as NodeId, 'a')
    await c.scheduler.runForAsync(200)
    expect(c.checker.violations.map(v => v.kind)).toContain('replica-equality')
  })
})

describe('SimCluster faults, one call each', () => {
  it('crash(id) stops a node; restart(id) boots a new incarnation from its disk (snapshot, then log)', async () => {
    const { c, trace } = await started({ seed: 13, snapshotEverySlots: 5 })
    const leader = c.leader() as NodeId
    const victim = c.ids.find(id => id !== leader) as NodeId
    for (let i = 0; i < 12; i++) await add(c, leader, `t${i}`)
    c.crash(victim)
    expect(c.isUp(victim)).toBe(false)
    expect(c.peer(victim)).toBeUndefined()
    // The group goes on with a majority.
    expect(await add(c, leader, 'while-down')).toBe(13)
    await c.restart(victim)
    expect(c.isUp(victim)).toBe(true)
    // It restored its state machine from the snapshot on its disk, not from nothing.
    expect(c.peer(victim)?.status().snapshotIndex).toBeGreaterThan(0)
    expect(c.stateMachine(victim)?.query({ has: 't0' })).toBe(true)
    await until(c, () => c.peer(victim)?.applied === c.peer(leader)?.applied, 3000, 'catch-up')
    expect(c.stateMachine(victim)?.query({ has: 'while-down' })).toBe(true)
    expect(c.digest(victim)).toBe(c.digest(leader))
    expect(trace.some(l => l.endsWith(`${victim} crashed`))).toBe(true)
    expect(trace.some(l => l.includes(`${victim} restarted (incarnation 2)`))).toBe(true)
    expect(c.checker.violations.filter(v => v.kind !== 'validity')).toEqual([])
  })

  it('isolate(leader) lets the majority elect another leader and stalls the old one; heal() reunites them', async () => {
    const { c, trace } = await started({ seed: 14 })
    const old = c.leader() as NodeId
    c.isolate(old)
    expect(trace.at(-1)).toMatch(new RegExp(`partition \\{${old}\\} \\| \\{n\\d,n\\d\\}$`))
    const majority = c.ids.filter(id => id !== old)
    await until(c, () => majority.some(id => c.peer(id)?.status().role === 'leader'), 5000, 'new leader on the majority side')
    const fresh = majority.find(id => c.peer(id)?.status().role === 'leader') as NodeId
    expect(await add(c, fresh, 'majority')).toBe(1)
    expect(await add(c, old, 'minority', 1000)).toBeInstanceOf(Error)
    c.heal()
    expect(trace.at(-1)).toMatch(/network healed$/)
    await until(c, () => new Set(c.ids.map(id => c.digest(id))).size === 1 && c.peer(old)?.applied === c.peer(fresh)?.applied, 5000, 'convergence')
    expect(c.stateMachine(old)?.query({ has: 'majority' })).toBe(true)
    expect(c.checker.violations.filter(v => v.kind !== 'validity')).toEqual([])
  })

  it('partition(group, others) names both sides; nodes in neither form a third', async () => {
    const { c } = await started({ seed: 15 })
    c.partition(['n1'], ['n2'])
    expect(c.network.connected('n1', 'n2')).toBe(false)
    expect(c.network.connected('n2', 'n3')).toBe(false)
    expect(c.network.connected('n1', 'n3')).toBe(false)
    c.partition(['n1'])
    expect(c.network.connected('n2', 'n3')).toBe(true)
    expect(c.network.connected('n1', 'n2')).toBe(false)
    c.heal()
    expect(c.network.connected('n1', 'n2')).toBe(true)
  })

  it('skewClock(leader, slow) makes its heartbeats late, and the others elect a new leader', async () => {
    const { c, trace } = await started({ seed: 16 })
    const old = c.leader() as NodeId
    c.skewClock(old, 0.02)
    expect(trace.at(-1)).toMatch(new RegExp(`${old} clock rate 0.02$`))
    const others = c.ids.filter(id => id !== old)
    await until(c, () => others.some(id => c.peer(id)?.status().role === 'leader'), 5000, 'a leader other than the slow one')
  })

  it('refuses unknown nodes and unusable clock rates with typed errors', async () => {
    const { c } = await started({ seed: 17 })
    for (const call of [() => { c.crash('n9') }, () => { c.partition(['n9']) }, () => { c.skewClock('n9', 1) }]) {
      expect(call).toThrow(UnknownNodeError)
    }
    await expect(c.restart('n9')).rejects.toMatchObject({ code: 'ERR_SIM_UNKNOWN_NODE', id: 'n9' })
    expect(() => { c.skewClock('n1', 0) }).toThrow(InvalidSimOptionError)
  })
})
