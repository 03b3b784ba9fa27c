import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../examples/local-cluster.js'
import type { LocalClusterResult } from '../../examples/local-cluster.js'

// The real-time example end to end: real timers, fsync'd LevelDB in a temp folder, and the
// in-process network. Two runs on one folder show that the data survives a clean shutdown.

interface Run { code: number, lines: string[], errors: string[], result: LocalClusterResult | undefined }

async function run (args: string[]): Promise<Run> {
  const lines: string[] = []
  const errors: string[] = []
  let result: LocalClusterResult | undefined
  const code = await main(args, { out: l => { lines.push(l) }, err: l => { errors.push(l) }, result: r => { result = r } })
  return { code, lines, errors, result }
}

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vpeer-local-cluster-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('examples/local-cluster.ts', () => {
  let first: Run | undefined

  it('elects a leader, commits, survives a leader crash and catches the restarted member up', async () => {
    const data = join(dir, 'data')
    first = await run(['--data', data, '--fresh', '--writes', '200'])
    expect(first.errors).toEqual([])
    expect(first.code).toBe(0)
    const r = first.result
    expect(r).toBeDefined()
    if (r === undefined) return
    const text = first.lines.join('\n')

    expect(r.run).toBe(1)
    expect(['a', 'b', 'c']).toContain(r.leader)
    expect(text).toMatch(new RegExp(`^leader: ${r.leader} \\(ballot \\d+\\.${r.leader}, elected \\d+ ms after start\\)$`, 'm'))
    expect(r.loadedCommitIndex).toEqual({ a: 0, b: 0, c: 0 })
    expect(text).toMatch(/^read back 200 keys through random members \(linearizable reads\): all match/m)
    expect(r.commitsPerSecond).toBeGreaterThan(0)

    // The crashed member reloaded a prefix from disk and then reached everyone else's index.
    const { restarted } = r
    expect(restarted.loadedCommitIndex).toBeGreaterThan(0)
    expect(restarted.appliedIndex).toBeGreaterThan(restarted.loadedCommitIndex)
    expect(text).toMatch(new RegExp(`^caught up: ${restarted.id} applied ${restarted.appliedIndex} like .* state digests equal`, 'm'))
    // At least: a leader change between the check and the shutdown would add a slot.
    for (const id of ['a', 'b', 'c']) expect(r.finalApplied[id]).toBeGreaterThanOrEqual(restarted.appliedIndex)

    // One LevelDB folder per member and nothing else.
    expect((await readdir(data)).sort()).toEqual(['a', 'b', 'c'])
  })

  it('a second run without --fresh starts every member from the commit index the first left', async () => {
    const data = join(dir, 'data')
    const before = first?.result
    if (before === undefined) throw new Error('the first run did not complete')
    const second = await run(['--data', data, '--writes', '200'])
    expect(second.errors).toEqual([])
    expect(second.code).toBe(0)
    const r = second.result
    if (r === undefined) throw new Error('no result')
    // A replica applies a slot only after the batch carrying its commit index was fsync'd, so
    // what it had applied at the shutdown is at most what it reloads (equal at a quiet stop).
    for (const id of ['a', 'b', 'c']) {
      expect(r.loadedCommitIndex[id]).toBeGreaterThan(0)
      expect(r.loadedCommitIndex[id]).toBeGreaterThanOrEqual(before.finalApplied[id] ?? Infinity)
    }
    expect(second.lines.join('\n')).toMatch(/^ {2}a: opened .*, commit index on disk [1-9]\d* \(left by an earlier run\)$/m)
    // The replicated run counter written by the first run was read back.
    expect(r.run).toBe(2)
    expect(r.restarted.appliedIndex).toBeGreaterThan(before.restarted.appliedIndex)
  })

  it('rejects bad options with exit code 2 and refuses to wipe a folder it did not create', async () => {
    expect((await run(['--writes', 'many'])).code).toBe(2)
    expect((await run(['--bogus'])).code).toBe(2)
    const foreign = await run(['--data', dir, '--fresh', '--writes', '1'])
    expect(foreign.code).toBe(2)
    expect(foreign.errors.join('\n')).toMatch(/refuses to wipe/)
    // The folder and its data are untouched.
    expect(await readdir(dir)).toContain('data')
  })
})
