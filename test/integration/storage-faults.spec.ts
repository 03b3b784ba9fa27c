/**
 * Storage fault suite (issue 7 §3): a real LevelStorage folder with some history (promises,
 * votes, overwritten votes, commits, two snapshots, a promise-only last batch), then one fault
 * per case on a fresh copy of it: bytes flipped in every record's value (every position of a
 * few records, sampled positions of the rest), key bytes flipped, records swapped, copied under
 * another key, deleted, truncated, replaced by an older version; LevelDB's own files (the
 * write-ahead log, the MANIFEST, the tables, CURRENT) and the witness flipped, truncated,
 * deleted or rolled back.
 *
 * For every case: opening and loading is refused with a typed `StorageError` (its `code` is
 * counted), or what loads is exactly the state written (durable state and snapshot, compared
 * with a MemoryStorage that got the same calls). Never a silent change of state.
 */
import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LogEntry, Slot } from '../../src/paxos/types.js'
import { LevelStorage, MemoryStorage, StorageError } from '../../src/storage/index.js'
import { describeKey, logKey } from '../../src/storage/keys.js'
import { WITNESS_FILE } from '../../src/storage/witness.js'
import type { Storage } from '../../src/contracts/index.js'
import { entry, snapshot, sortedLog } from '../compliance/storage.js'

type RawDb = Level<Uint8Array, Uint8Array>

const PIECE_BYTES = 64
const CONCURRENCY = 4

let root: string
let template: string
let olderFolder: string
let expected: string
// Every key and value of the final database, and of the database after the first session.
let finalRecords: Array<[Uint8Array, Uint8Array]>
let olderRecords: Map<string, Uint8Array>

function value (slot: Slot, round: number, node: string, tag = ''): LogEntry {
  return entry(round, node, `${round}.${node}.${slot}${tag}`, [[`client-${node}`, slot, Uint8Array.of(slot, round, 0xa5, slot ^ 0xff)]])
}

function votes (from: Slot, to: Slot, round: number, node: string, tag = ''): Array<[Slot, LogEntry]> {
  const out: Array<[Slot, LogEntry]> = []
  for (let slot = from; slot <= to; slot++) out.push([slot, value(slot, round, node, tag)])
  return out
}

/** One history, applied to every storage given. */
async function session1 (targets: Storage[]): Promise<void> {
  const first = snapshot(4, 300, 11, 64)
  const steps: Array<(s: Storage) => Promise<void>> = [
    async (s) => { await s.persist({ promised: { round: 1, node: 'n1' }, entries: [] }) },
    async (s) => { await s.persist({ commitIndex: 0, entries: votes(1, 4, 1, 'n1') }) },
    async (s) => { await s.persist({ commitIndex: 3, entries: votes(5, 6, 1, 'n1') }) },
    async (s) => { await s.persist({ promised: { round: 2, node: 'n2' }, entries: [] }) },
    async (s) => { await s.persist({ commitIndex: 6, entries: votes(5, 8, 2, 'n2') }) },
    async (s) => { await s.installSnapshot(first.meta, first.state) },
    async (s) => { await s.persist({ commitIndex: 10, entries: votes(9, 12, 2, 'n2') }) },
    async (s) => { await s.persist({ entries: votes(15, 15, 2, 'n2') }) }
  ]
  for (const step of steps) for (const target of targets) await step(target)
}

async function session2 (targets: Storage[]): Promise<void> {
  const second = snapshot(8, 500, 12, 64)
  const steps: Array<(s: Storage) => Promise<void>> = [
    async (s) => { await s.persist({ promised: { round: 3, node: 'n3' }, entries: [] }) },
    // Slot 15's vote is replaced by a later ballot's: its older record is a valid one to replay.
    async (s) => { await s.persist({ commitIndex: 12, entries: [...votes(13, 14, 3, 'n3'), ...votes(15, 15, 3, 'n3', '-re')] }) },
    async (s) => { await s.installSnapshot(second.meta, second.state) },
    async (s) => { await s.persist({ commitIndex: 14, entries: votes(16, 17, 3, 'n3') }) },
    // The last batch only raises the promise: losing it is the classic amnesia.
    async (s) => { await s.persist({ promised: { round: 4, node: 'n1' }, entries: [] }) }
  ]
  for (const step of steps) for (const target of targets) await step(target)
}

/** Durable state and snapshot in one comparable string. */
async function describeState (s: Storage): Promise<string> {
  const state = await s.load()
  const snap = await s.loadSnapshot()
  return JSON.stringify({
    promised: state.promised,
    commitIndex: state.commitIndex,
    log: sortedLog(state).map(([slot, e]) => [slot, e.ballot, e.value.id, e.value.commands.map((c) => [c.client, c.seq, Buffer.from(c.data).toString('hex')])]),
    snapshot: snap === undefined ? null : { ...snap.meta, sessions: Buffer.from(snap.meta.sessions).toString('hex'), state: Buffer.from(snap.state).toString('hex') }
  })
}

async function withRaw<T> (dir: string, fn: (db: RawDb) => Promise<T>): Promise<T> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: false })
  await db.open()
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

async function allRecords (dir: string): Promise<Array<[Uint8Array, Uint8Array]>> {
  return await withRaw(dir, async (db) => (await db.iterator().all()).map(([k, v]) => [Uint8Array.from(k), Uint8Array.from(v)]))
}

// A small deterministic generator for sampled positions.
function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x1_0000_0000
  }
}

/** Every position for short lengths, else first and last few plus `count` random ones. */
function positions (length: number, all: boolean, count: number, random: () => number): number[] {
  if (all || length <= count) return Array.from({ length }, (_, i) => i)
  const picked = new Set<number>([0, 1, 2, length - 1, length - 2, Math.floor(length / 2)])
  while (picked.size < Math.min(length, count)) picked.add(Math.floor(random() * length))
  return [...picked].filter((i) => i >= 0 && i < length).sort((a, b) => a - b)
}

function flipped (bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes)
  out[at] = (out[at] as number) ^ mask
  return out
}

interface FaultCase {
  readonly group: string
  readonly name: string
  /** Damages the folder (a fresh copy of the template). */
  readonly apply: (dir: string) => Promise<void>
  /** Open twice: the verdict must hold on the next restart too (LevelDB rewrites its files at open). */
  readonly twice?: boolean
}

type Outcome = { kind: 'refused', code: string } | { kind: 'recovered' } | { kind: 'silent', detail: string } | { kind: 'untyped', detail: string }

async function attempt (dir: string): Promise<Outcome> {
  let storage: LevelStorage | undefined
  try {
    storage = await LevelStorage.open(dir, { snapshotPieceBytes: PIECE_BYTES })
    const loaded = await describeState(storage)
    return loaded === expected ? { kind: 'recovered' } : { kind: 'silent', detail: loaded.slice(0, 400) }
  } catch (err) {
    if (err instanceof StorageError && typeof err.code === 'string' && err.code.startsWith('ERR_')) return { kind: 'refused', code: err.code }
    return { kind: 'untyped', detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
  } finally {
    await storage?.close().catch(() => {})
  }
}

async function runCase (fault: FaultCase, index: number): Promise<Outcome> {
  const dir = join(root, `case-${index}`)
  await cp(template, dir, { recursive: true })
  // FAULT_TRACE=1: which case was running if a native crash takes the worker down.
  if (process.env['FAULT_TRACE'] !== undefined) process.stderr.write(`start ${index} ${fault.name}\n`)
  try {
    await fault.apply(dir)
    const first = await attempt(dir)
    if (fault.twice !== true || first.kind === 'silent' || first.kind === 'untyped') return first
    const second = await attempt(dir)
    if (second.kind !== first.kind) return { kind: 'silent', detail: `first open ${first.kind}, second ${second.kind}` }
    return second
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// The cases

function recordCases (): FaultCase[] {
  const random = prng(7)
  const cases: FaultCase[] = []
  const put = (name: string, group: string, edit: (db: RawDb) => Promise<void>): void => {
    cases.push({ group, name, apply: async (dir) => { await withRaw(dir, edit) } })
  }
  const named = (key: Uint8Array): string => describeKey(key)
  // Every byte of these records; sampled positions of the others.
  const fully = new Set(['format', 'head', 'meta', 'snapshot', 'log/15', 'snapshot/piece/0'])
  for (const [key, val] of finalRecords) {
    for (const at of positions(val.byteLength, fully.has(named(key)), 6, random)) {
      const mask = 1 + Math.floor(random() * 255)
      put(`flip value byte ${at} of ${named(key)} (^0x${mask.toString(16)})`, 'value byte flip', async (db) => { await db.put(key, flipped(val, at, mask)) })
    }
    for (const length of new Set([0, 1, 5, Math.floor(val.byteLength / 2), val.byteLength - 1])) {
      if (length < val.byteLength) put(`truncate ${named(key)} to ${length} bytes`, 'value truncated', async (db) => { await db.put(key, val.subarray(0, length)) })
    }
    put(`delete ${named(key)}`, 'record deleted', async (db) => { await db.del(key) })
    for (const at of positions(key.byteLength, true, 0, random)) {
      const mask = at === 0 ? 0x01 : 1 << Math.floor(random() * 8)
      const moved = flipped(key, at, mask)
      put(`flip key byte ${at} of ${named(key)} → ${named(moved)}`, 'key byte flip', async (db) => {
        await db.del(key)
        await db.put(moved, val)
      })
    }
  }
  const byName = new Map(finalRecords.map(([k, v]) => [named(k), [k, v] as const]))
  const pairs: Array<[string, string]> = [
    ['log/9', 'log/10'], ['log/13', 'log/14'], ['log/15', 'log/16'], ['log/16', 'log/17'], ['meta', 'head'],
    ['snapshot/piece/0', 'snapshot/piece/1'], ['snapshot/piece/3', 'snapshot/piece/7'], ['log/12', 'meta'], ['format', 'head']
  ]
  for (const [a, b] of pairs) {
    const [ka, va] = byName.get(a)!
    const [kb, vb] = byName.get(b)!
    put(`swap ${a} and ${b}`, 'records swapped', async (db) => {
      await db.put(ka, vb)
      await db.put(kb, va)
    })
  }
  const copies: Array<[string, Uint8Array]> = [
    ['log/14', logKey(15)], ['log/15', logKey(14)], ['log/9', logKey(10)], ['log/17', logKey(18)], ['log/17', logKey(100)],
    ['log/16', logKey(8)], ['log/9', logKey(3)], ['snapshot/piece/2', Uint8Array.of(0x53, 0, 0, 0, 9)],
    ['snapshot/piece/1', Uint8Array.of(0x53, 0, 0, 0, 0)], ['meta', Uint8Array.of(0x48)], ['head', Uint8Array.of(0x4d)]
  ]
  for (const [from, to] of copies) {
    const [, v] = byName.get(from)!
    put(`copy ${from} under ${named(to)}`, 'record copied under another key', async (db) => { await db.put(to, v) })
  }
  // Older versions of records (from after the first session): each valid, framed and bound to its key.
  for (const [key, val] of finalRecords) {
    const older = olderRecords.get(named(key))
    if (older !== undefined && !Buffer.from(older).equals(Buffer.from(val))) {
      put(`older version of ${named(key)}`, 'older version replayed', async (db) => { await db.put(key, older) })
    }
  }
  for (const [name, older] of olderRecords) {
    if (!byName.has(name)) {
      const key = Uint8Array.from(Buffer.from(name.startsWith('log/') ? logKey(Number(name.slice(4))) : Uint8Array.of()))
      if (key.byteLength > 0) put(`resurrect deleted ${name}`, 'older version replayed', async (db) => { await db.put(key, older) })
    }
  }
  put('older meta and head together', 'older version replayed', async (db) => {
    for (const name of ['meta', 'head']) await db.put(byName.get(name)![0], olderRecords.get(name)!)
  })
  return cases
}

async function fileCases (): Promise<FaultCase[]> {
  const random = prng(11)
  const files = await readdir(template)
  const cases: FaultCase[] = []
  const add = (group: string, name: string, apply: (dir: string) => Promise<void>): void => { cases.push({ group, name, apply, twice: true }) }
  const flipFile = (file: string, at: number, mask: number) => async (dir: string): Promise<void> => {
    const bytes = await readFile(join(dir, file))
    bytes[at] = (bytes[at] as number) ^ mask
    await writeFile(join(dir, file), bytes)
  }
  const sample: Record<string, number> = { log: 160, ldb: 60, manifest: 40, current: 100, witness: 40 }
  for (const file of files) {
    const kind = file.endsWith('.log') ? 'log' : file.endsWith('.ldb') ? 'ldb' : file.startsWith('MANIFEST') ? 'manifest' : file === 'CURRENT' ? 'current' : file === WITNESS_FILE ? 'witness' : undefined
    if (kind === undefined) continue
    const size = (await stat(join(template, file))).size
    // The witness: both copies' bytes, not the zero padding between them.
    const spots = kind === 'witness'
      ? [...positions(52, false, 20, random), ...positions(52, false, 20, random).map((i) => 4096 + i)]
      : positions(size, false, sample[kind] ?? 20, random)
    for (const at of spots) {
      const mask = 1 << Math.floor(random() * 8)
      add(`${kind} file byte flip`, `flip bit ${Math.log2(mask)} of byte ${at} of ${file}`, flipFile(file, at, mask))
    }
    for (const length of new Set([0, 1, 7, Math.floor(size / 3), Math.floor(size / 2), size - 7, size - 1])) {
      if (length >= 0 && length < size) add(`${kind} file truncated`, `truncate ${file} to ${length} of ${size} bytes`, async (dir) => { await truncate(join(dir, file), length) })
    }
    add(`${kind} file deleted`, `delete ${file}`, async (dir) => { await rm(join(dir, file)) })
  }
  // LevelDB's files rolled back to the first session's, the witness kept: acknowledged writes gone.
  add('rollback', 'LevelDB files from the first session, current witness', async (dir) => {
    for (const file of await readdir(dir)) if (file !== WITNESS_FILE) await rm(join(dir, file))
    for (const file of await readdir(olderFolder)) if (file !== WITNESS_FILE && file !== 'LOCK') await cp(join(olderFolder, file), join(dir, file))
  })
  add('rollback', 'witness from the first session, current LevelDB files', async (dir) => {
    await cp(join(olderFolder, WITNESS_FILE), join(dir, WITNESS_FILE))
  })
  return cases
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vpeer-faults-'))
  template = join(root, 'template')
  olderFolder = join(root, 'older')
  const memory = new MemoryStorage()
  let level = await LevelStorage.open(template, { snapshotPieceBytes: PIECE_BYTES })
  await session1([level, memory])
  await level.close()
  await cp(template, olderFolder, { recursive: true })
  // Reopening moves the first session's write-ahead log into a table: the final folder has
  // records in .ldb tables and in the .log alike.
  level = await LevelStorage.open(template, { snapshotPieceBytes: PIECE_BYTES })
  await session2([level, memory])
  await level.close()
  expected = await describeState(memory)
  // The folder as written loads exactly (a copy: opening rewrites LevelDB's files).
  const check = join(root, 'check')
  await cp(template, check, { recursive: true })
  expect(await attempt(check)).toEqual({ kind: 'recovered' })
  finalRecords = await allRecords(check)
  const older = join(root, 'older-check')
  await cp(olderFolder, older, { recursive: true })
  olderRecords = new Map((await allRecords(older)).map(([k, v]) => [describeKey(k), v]))
}, 60_000)

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

async function runAll (cases: FaultCase[]): Promise<{ summary: Record<string, Record<string, number>>, failures: string[] }> {
  const summary: Record<string, Record<string, number>> = {}
  const failures: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const index = next++
      const fault = cases[index] as FaultCase
      const outcome = await runCase(fault, index)
    if (process.env['FAULT_TRACE'] !== undefined) process.stderr.write(`end ${index}\n`)
      const cls = outcome.kind === 'refused' ? `refused ${outcome.code}` : outcome.kind
      const group = summary[fault.group] ?? (summary[fault.group] = {})
      group[cls] = (group[cls] ?? 0) + 1
      if (outcome.kind === 'silent' || outcome.kind === 'untyped') failures.push(`${fault.name}: ${outcome.kind} ${outcome.detail}`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { summary, failures }
}

function report (title: string, summary: Record<string, Record<string, number>>): { total: number, refused: number, recovered: number } {
  let total = 0
  let refused = 0
  let recovered = 0
  const lines = Object.entries(summary).sort().map(([group, classes]) => {
    for (const [cls, n] of Object.entries(classes)) {
      total += n
      if (cls.startsWith('refused')) refused += n
      if (cls === 'recovered') recovered += n
    }
    return `  ${group}: ${Object.entries(classes).sort().map(([cls, n]) => `${cls} ${n}`).join(', ')}`
  })
  console.log(`${title}: ${total} cases, ${refused} refused with a typed error, ${recovered} recovered exactly, ${total - refused - recovered} silent or untyped\n${lines.join('\n')}`)
  return { total, refused, recovered }
}

describe('storage fault suite: refused with a typed error, or recovered exactly, never a silent change', () => {
  it('damaged records (values, keys, swaps, copies, deletions, truncations, older versions)', async () => {
    const { summary, failures } = await runAll(recordCases())
    const counts = report('records', summary)
    expect(failures).toEqual([])
    expect(counts.total).toBeGreaterThan(400)
    expect(counts.refused + counts.recovered).toBe(counts.total)
  }, 120_000)

  it('damaged files (write-ahead log, MANIFEST, tables, CURRENT, witness; rollbacks)', async () => {
    const cases = await fileCases()
    // The template must have all of them, or the suite tests less than it says.
    const groups = new Set(cases.map((c) => c.group))
    for (const kind of ['log', 'ldb', 'manifest', 'current', 'witness']) expect(groups).toContain(`${kind} file byte flip`)
    const { summary, failures } = await runAll(cases)
    const counts = report('files', summary)
    expect(failures).toEqual([])
    expect(counts.refused + counts.recovered).toBe(counts.total)
  }, 120_000)

  it('known limit: the whole folder rolled back to an older copy (witness included) loads that older state', async () => {
    // Documented in src/storage/README.md: nothing inside the folder can tell. What loads is a
    // consistent state that this node really had, but it has forgotten promises made since.
    const dir = join(root, 'whole-rollback')
    await cp(olderFolder, dir, { recursive: true })
    const outcome = await attempt(dir)
    expect(outcome.kind).toBe('silent')
    await rm(dir, { recursive: true, force: true })
  })
})
