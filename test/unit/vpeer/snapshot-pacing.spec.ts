/**
 * SnapshotManager's scheduling (issue 7 §4), against a fake host whose clock fires only when the
 * test says so: the manifest keeps pace with applies even if no timer ever fires, a snapshot
 * that fell due during a build is taken when that build is stored (not at a later apply), and a
 * received snapshot cancels a build it overtakes. The end-to-end check is
 * test/sim/snapshot-burst.spec.ts.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { buildManifest } from '../../../src/migration/snapshot.js'
import type { PaxosNode } from '../../../src/paxos/node.js'
import type { Configuration, Slot } from '../../../src/paxos/types.js'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import type { Clock } from '../../../src/contracts/index.js'
import { SessionTable } from '../../../src/vpeer/sessions.js'
import { SnapshotManager, encodeRuntimeBlob } from '../../../src/vpeer/snapshots.js'
import { markCount, resetMarks } from '../../../src/util/marks.js'

const configuration: Configuration = { epoch: 0, voters: ['a'], learners: [] }

/** A clock whose periodic timers run only on `tick()`. */
class ManualClock implements Clock {
  readonly timers = new Set<() => void>()
  nowMs (): number { return 0 }
  every (_ms: number, fn: () => void): () => void {
    const t = (): void => { fn() }
    this.timers.add(t)
    return () => { this.timers.delete(t) }
  }

  after (): () => void { throw new Error('not used') }
  tick (): void { for (const t of [...this.timers]) t() }
}

interface Harness {
  readonly manager: SnapshotManager<unknown>
  readonly clock: ManualClock
  /** Tasks queued to run between Readies, not yet run. */
  readonly between: Array<() => Promise<void>>
  /** Runs the queued between-Readies tasks (and any they queue), as the Ready loop would. */
  readonly runBetween: () => Promise<void>
  /** Indexes passed to snapshotTaken, in order. */
  readonly taken: Slot[]
  applied: Slot
}

function harness (everySlots: number, stateBytes: number, chunkBytes: number): Harness {
  const clock = new ManualClock()
  const between: Array<() => Promise<void>> = []
  const taken: Slot[] = []
  let snapshotIndex = 0
  let compactedThrough = 0
  const node = {
    snapshotConfigs: () => [{ fromSlot: 1, configuration }],
    compaction: () => ({ snapshotIndex, compactedThrough }),
    snapshotTaken: (index: Slot) => { taken.push(index); snapshotIndex = Math.max(snapshotIndex, index) },
    compactLog: (upTo: Slot) => { compactedThrough = Math.max(compactedThrough, Math.min(upTo, snapshotIndex)); return compactedThrough }
  } as unknown as PaxosNode
  const h: Harness = {
    manager: undefined as unknown as SnapshotManager<unknown>,
    clock,
    between,
    taken,
    applied: 0,
    runBetween: async () => {
      for (let task = between.shift(); task !== undefined; task = between.shift()) await task()
    }
  }
  const manager = new SnapshotManager<unknown>({
    id: 'a',
    node,
    storage: new MemoryStorage(),
    clock,
    sessions: new SessionTable<unknown>(16),
    accessState: () => undefined,
    restoreAccess: () => {},
    stateMachine: { snapshot: () => new Uint8Array(stateBytes).fill(7), restore: () => {} },
    running: () => true,
    applied: () => h.applied,
    between: task => { between.push(task) },
    jumped: () => {},
    trace: () => {}
  }, { everySlots, retentionSlots: 0, chunkBytes, chunksPerStep: 16, stepMs: 10 })
  return Object.assign(h, { manager })
}

/** The apply path: slots up to `index` were applied in one Ready. */
function apply (h: Harness, index: Slot): void {
  h.applied = index
  h.manager.afterApply(index)
}

beforeEach(() => { resetMarks() })

describe('SnapshotManager keeps pace with applies (issue 7 §4)', () => {
  it('with a clock that never fires, the manifest is finished once everySlots / 2 slots were applied after the copy', async () => {
    // 100 chunks; the horizon is 50 applied slots.
    const h = harness(100, 1600, 16)
    apply(h, 99)
    expect(h.clock.timers.size).toBe(0)
    apply(h, 100)
    expect(markCount('vpeer: snapshot copy taken')).toBe(1)
    apply(h, 120)
    apply(h, 149)
    expect(h.between).toHaveLength(0)
    expect(markCount('vpeer: snapshot hashing paced by applies')).toBe(2)
    apply(h, 150)
    expect(h.between).toHaveLength(1)
    expect(h.clock.timers.size).toBe(0)
    await h.runBetween()
    expect(h.taken).toEqual([100])
    expect(h.manager.latest?.meta.index).toBe(100)
    // The next one is due 100 slots after the previous copy.
    apply(h, 199)
    expect(markCount('vpeer: snapshot copy taken')).toBe(1)
    apply(h, 230)
    expect(markCount('vpeer: snapshot copy taken')).toBe(2)
    apply(h, 280)
    await h.runBetween()
    expect(h.taken).toEqual([100, 230])
  })

  it('what the clock hashed counts: an idle node finishes on ticks and applies owe nothing more', async () => {
    const h = harness(100, 1600, 16)
    apply(h, 100)
    for (let i = 0; i < 7; i++) h.clock.tick()
    expect(h.between).toHaveLength(1)
    expect(markCount('vpeer: snapshot hashing paced by applies')).toBe(0)
    await h.runBetween()
    expect(h.taken).toEqual([100])
  })

  it('a snapshot that fell due while another was built is copied once that one is stored, without a later apply', async () => {
    const h = harness(10, 16, 16)
    apply(h, 10)
    // The timer finishes the manifest while a Ready is outstanding ...
    h.clock.tick()
    expect(h.between).toHaveLength(1)
    // ... whose apply crosses the next due point before the write between Readies has run.
    apply(h, 25)
    expect(markCount('vpeer: snapshot copy taken')).toBe(1)
    // No more applies from here on.
    await h.runBetween()
    expect(h.taken).toEqual([10])
    expect(markCount('vpeer: snapshot copy taken')).toBe(2)
    h.clock.tick()
    await h.runBetween()
    expect(h.taken).toEqual([10, 25])
    expect(h.manager.latest?.meta.index).toBe(25)
    // Nothing is due any more: no timer left running.
    expect(h.clock.timers.size).toBe(0)
  })

  it('a received snapshot at or above the copy being built cancels the build', async () => {
    const h = harness(10, 1600, 16)
    apply(h, 10)
    expect(h.clock.timers.size).toBe(1)
    const state = new Uint8Array(32)
    const meta = buildManifest(50, configuration, encodeRuntimeBlob([], [{ fromSlot: 1, configuration }]), state, 16)
    h.manager.adopt({ meta, state })
    expect(markCount('vpeer: local snapshot overtaken while building, dropped')).toBe(1)
    expect(h.clock.timers.size).toBe(0)
    apply(h, 55)
    expect(markCount('vpeer: snapshot copy taken')).toBe(1)
    apply(h, 60)
    expect(markCount('vpeer: snapshot copy taken')).toBe(2)
    apply(h, 70)
    await h.runBetween()
    expect(h.taken).toEqual([60])
  })
})
