import { describe, it, expect } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../examples/sim-demo.js'
import type { DemoIo } from '../../examples/sim-demo.js'
import { checkHistory, parseHistory } from '../../src/sim/lincheck/index.js'

/** Runs the demo in-process, as a pipe would see it (no TTY, so no colour and no pacing). */
async function runDemo (args: string[]): Promise<{ code: number, lines: string[], errors: string[] }> {
  const lines: string[] = []
  const errors: string[] = []
  const io: DemoIo = { out: line => { lines.push(line) }, err: line => { errors.push(line) }, isTTY: false, env: {} }
  const code = await main(args, io)
  return { code, lines, errors }
}

const ARGS = ['--seed', '2', '--seconds', '8', '--speed', 'max']

describe('sim demo (examples/sim-demo.ts)', () => {
  it('narrates an election, the leader crash, status lines and passing verdicts', async () => {
    const { code, lines, errors } = await runDemo(ARGS)
    expect(errors).toEqual([])
    expect(code).toBe(0)
    const text = lines.join('\n')
    expect(text).toMatch(/^\[ *\d+\.\d\ds\] ★ n\d is leader \(ballot \d+\.n\d\)$/m)
    expect(text).toMatch(/^\[ *\d+\.\d\ds\] ✗ n\d crashed \(the leader\)$/m)
    expect(text).toMatch(/^\[ *\d+\.\d\ds\] ↻ n\d restarted/m)
    expect(text).toMatch(/^\[ 1\.00s\] · leader .* cmd\/s .* ops \d+ ok .* safety: ok$/m)
    for (const name of ['agreement', 'validity', 'integrity', 'replica-equality', 'linearizability', 'liveness']) {
      expect(text).toMatch(new RegExp(`^  ✓ ${name} `, 'm'))
    }
    expect(text).not.toMatch(/✗ (agreement|validity|integrity|replica-equality|linearizability|liveness)/)
    expect(lines.at(-1)).toBe('all checks passed')
    // Piped output carries no escape codes.
    expect(text).not.toContain('\u001b[')
  })

  it('prints the same narration for the same seed', async () => {
    const a = await runDemo(ARGS)
    const b = await runDemo(ARGS)
    expect(a.lines.length).toBeGreaterThan(10)
    expect(b.lines).toEqual(a.lines)
    const other = await runDemo(['--seed', '3', '--seconds', '8', '--speed', 'max'])
    expect(other.lines).not.toEqual(a.lines)
  })

  it('writes a history that the linearizability checker accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-demo-'))
    try {
      const file = join(dir, 'history.jsonl')
      const { code, lines } = await runDemo([...ARGS, '--quiet', '--faults', 'crashes,partitions', '--history', file])
      expect(code).toBe(0)
      // --quiet leaves only the summary.
      expect(lines.some(l => /^\[/.test(l))).toBe(false)
      const events = parseHistory(readFileSync(file, 'utf8'))
      expect(events.length).toBeGreaterThan(100)
      expect(checkHistory(events).outcome).toBe('linearizable')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects bad options with exit code 2', async () => {
    for (const args of [['--seconds', '0'], ['--speed', '-1'], ['--faults', 'meteor'], ['--nodes', 'x'], ['--bogus']]) {
      const { code, errors } = await runDemo(args)
      expect(code, args.join(' ')).toBe(2)
      expect(errors.join('\n')).toMatch(/usage: npm run demo:sim/)
    }
  })
})
