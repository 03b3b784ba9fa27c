import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))

function bench (...args: string[]): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/sessions.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 })
}

// Correctness of the benchmark only: timings and heap figures depend on the machine and are never asserted.
describe('bench/sessions.ts', () => {
  it('keeps only the sessions of the last TTL (and their tombstones) and reports them as JSON', () => {
    const r = bench('--clients', '20000', '--gap-ms', '10', '--json')
    expect(r.status).toBe(0)
    const out = JSON.parse(String(r.stdout)) as { clients: number, rows: Array<{ ttlMs: number | null, sessions: number, tombstones: number, heapBytes: number }> }
    expect(out.clients).toBe(20_000)
    expect(out.rows.map(row => [row.ttlMs, row.sessions, row.tombstones])).toEqual([
      [60_000, 6000, 6000], [600_000, 20_000, 0], [3_600_000, 20_000, 0], [null, 20_000, 0]
    ])
  })

  it('prints a table by default and refuses unknown flags with the usage', () => {
    const table = bench('--clients', '1000')
    expect(table.status).toBe(0)
    expect(String(table.stdout)).toMatch(/\| session TTL \| sessions kept \|/)
    const bad = bench('--bogus')
    expect(bad.status).toBe(2)
    expect(String(bad.stderr)).toMatch(/usage: npm run bench:sessions/)
  })
})
