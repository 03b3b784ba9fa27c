import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The CLI is a script with a top-level `await main()`, so it is tested as users run it: a child
// process (which also exercises the forked workers and the IPC between them).
const root = fileURLToPath(new URL('../../', import.meta.url))

function sim (args: readonly string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'simulations/vopr.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
    timeout: 100_000
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface Stats { count: number, mean: number | null, p50: number | null, p95: number | null, max: number | null }

describe('npm run sim -- --scenario rolling', () => {
  it('runs seeds in parallel workers and summarises replacement times', () => {
    const r = sim(['--scenario', 'rolling', '--seeds', '4', '--workers', '2', '--json'])
    expect(r.stderr).not.toMatch(/Error/)
    const s = JSON.parse(r.stdout) as {
      scenario: string, seeds: number, passed: number, failed: number, failingSeeds: number[]
      failures: Array<{ seed: number, replay: string }>, violations: Record<string, number>
      params: { replaceAfterTicks: number, replaceAfterMs: number, nodes: Record<string, number> }
      replacements: { attempted: number, completed: number, notReplaced: number }
      replacementMs: { all: Stats, leader: Stats, nonLeader: Stats }
      command: string
      byVariant: Record<string, { seeds: number, failed: number, snapshotInstalls: number }>
      bySnapshots: Record<string, { seeds: number, failed: number, snapshotInstalls: number }>
      snapshotInstalls: { total: number, runsWithInstalls: number }
    }
    const p = s.params as typeof s.params & { variant: Record<string, number>, snapshots: Record<string, number> }
    expect(s.scenario).toBe('rolling')
    expect(s.seeds).toBe(4)
    expect(s.passed + s.failed).toBe(4)
    expect(s.failingSeeds).toHaveLength(s.failed)
    expect(r.status).toBe(s.failed === 0 ? 0 : 1)
    for (const f of s.failures) expect(f.replay).toBe(`npm run sim -- --scenario rolling --seed ${f.seed} --trace`)
    expect(s.params.replaceAfterTicks).toBe(100)
    expect(s.params.replaceAfterMs).toBe(1000)
    // The seed picks 3 or 5 members, and every original member is crashed once.
    const members = (s.params.nodes['3'] ?? 0) * 3 + (s.params.nodes['5'] ?? 0) * 5
    expect((s.params.nodes['3'] ?? 0) + (s.params.nodes['5'] ?? 0)).toBe(4)
    expect(s.replacements.attempted).toBeLessThanOrEqual(members)
    expect(s.replacements.completed + s.replacements.notReplaced).toBe(s.replacements.attempted)
    const { all, leader, nonLeader } = s.replacementMs
    expect(all.count).toBe(s.replacements.completed)
    expect(leader.count + nonLeader.count).toBe(all.count)
    for (const st of [all, leader, nonLeader]) {
      if (st.count === 0) continue
      const { mean, p50, p95, max } = st as { mean: number, p50: number, p95: number, max: number }
      expect(p50).toBeLessThanOrEqual(p95)
      expect(p95).toBeLessThanOrEqual(max)
      expect(mean).toBeLessThanOrEqual(max)
      // A dead voter cannot be suspected before the timeout has passed.
      expect(p50).toBeGreaterThanOrEqual(s.params.replaceAfterMs)
    }
    expect(s.command).toBe('npm run sim -- --scenario rolling --seeds 4 --first 1')
    // Each seed draws a schedule variant and a snapshot setting; the breakdowns add up.
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, x) => a + x, 0)
    expect(Object.keys(p.variant).every(v => ['none', 'crashFirstLearner', 'crashLeaderMidReplacement', 'reviveReplaced'].includes(v))).toBe(true)
    expect(Object.keys(p.snapshots).every(v => ['off', '30/5', '200/50'].includes(v))).toBe(true)
    expect(sum(p.variant)).toBe(4)
    expect(sum(p.snapshots)).toBe(4)
    for (const b of [s.byVariant, s.bySnapshots]) {
      expect(Object.values(b).reduce((a, x) => a + x.seeds, 0)).toBe(4)
      expect(Object.values(b).reduce((a, x) => a + x.failed, 0)).toBe(s.failed)
      expect(Object.values(b).reduce((a, x) => a + x.snapshotInstalls, 0)).toBe(s.snapshotInstalls.total)
    }
    expect(s.bySnapshots.off?.snapshotInstalls ?? 0).toBe(0)
    expect(s.snapshotInstalls.runsWithInstalls).toBeLessThanOrEqual(4)
  })

  it('the seed alone decides the variant and the snapshot setting; a leader crash needs 5 nodes', () => {
    // Seed 7 draws 5 nodes, crashLeaderMidReplacement and snapshots every 200 slots keeping 50.
    const drawn = sim(['--scenario', 'rolling', '--seed', '7', '--trace'])
    expect(drawn.stdout).toMatch(/seed 7: \{"nodes":5,.*"variant":"crashLeaderMidReplacement","snapshotEverySlots":200,"logRetentionSlots":50,/)
    expect(drawn.stdout).toMatch(/scenario: leader n\d+ crashed in the middle of the replacement/)
    // With 3 nodes the leader crash would leave no majority: the seed runs with no variant.
    const three = sim(['--scenario', 'rolling', '--seed', '7', '--nodes', '3', '--trace'])
    expect(three.stdout).toMatch(/seed 7: \{"nodes":3,.*"variant":"none","snapshotEverySlots":200,"logRetentionSlots":50,/)
    for (const r of [drawn, three]) expect(r.status).toBe(r.stdout.includes('no violations') ? 0 : 1)
  })

  it('replays one seed with a readable trace, passing --nodes through', () => {
    const r = sim(['--scenario', 'rolling', '--seed', '3', '--nodes', '3', '--trace'])
    expect(r.stdout).toMatch(/scenario: n\d+ crashed for good/)
    expect(r.stdout).toMatch(/seed 3: \{"nodes":3,"replaceAfterTicks":100,/)
    expect(r.status).toBe(r.stdout.includes('no violations') ? 0 : 1)
  })

  it('exits 2 on an unknown scenario or a flag of the other scenario', () => {
    const bad = sim(['--scenario', 'nope'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/unknown --scenario nope/)
    expect(sim(['--scenario', 'rolling', '--faults', 'loss']).status).toBe(2)
    expect(sim(['--replace-after-ticks', '50']).status).toBe(2)
  })
})

describe('npm run sim -- (usability)', () => {
  it('--help prints every option and exits 0', () => {
    const r = sim(['--help'])
    expect(r.status).toBe(0)
    for (const flag of ['--seeds', '--seed', '--nodes', '--alpha', '--faults', '--intensity', '--mutation', '--scenario', '--workers', '--json']) expect(r.stdout).toContain(flag)
    expect(r.stdout).toMatch(/unknown are writes/)
  })

  it('a trace piped into a reader that stops early ends quietly (no EPIPE stack trace)', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" --import tsx simulations/vopr.ts --seed 3 --trace | head -n 1`], { cwd: root, encoding: 'utf8', timeout: 100_000 })
    expect(r.stdout.split('\n')[0]).toMatch(/^T=\d/)
    expect(r.stderr).not.toMatch(/EPIPE|Error/)
  })
})


describe('npm run sim -- --no-retry-jitter', () => {
  it('reaches the workers: the same seeds run another schedule without jitter, and both pass', () => {
    const args = ['--seeds', '2', '--first', '62', '--nodes', '3', '--intensity', 'nemesis', '--workers', '2', '--json']
    const jittered = sim(args)
    const plain = sim([...args, '--no-retry-jitter'])
    for (const r of [jittered, plain]) expect(r.status, r.stderr).toBe(0)
    const summary = (r: { stdout: string }): { passed: number, slotsChosen: number, faults: { messagesSent: number } } => JSON.parse(r.stdout)
    expect(summary(jittered).passed).toBe(2)
    expect(summary(plain).passed).toBe(2)
    expect(summary(plain).faults.messagesSent).not.toBe(summary(jittered).faults.messagesSent)
  })
})
