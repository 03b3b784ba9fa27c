import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { history } from './history-builder.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
let dir: string

function run (args: string[], input?: string): { status: number | null, stdout: string, stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/sim/lincheck-cli.ts', ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

function file (name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('lincheck CLI', () => {
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'lincheck-')) })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  it('exits 0 on a linearizable history', () => {
    const result = run([file('ok.jsonl', history().write(1, 'x', 1).read(2, 'x', 1).text())])
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('linearizable')
  })

  it('reads stdin with -', () => {
    expect(run(['-'], history().write(1, 'x', 1).read(2, 'x', 1).text()).status).toBe(0)
  })

  it('exits 1 and names the key, the operations and their lines on a violation', () => {
    const text = history().write(1, 'x', 1).write(1, 'x', 2).read(2, 'x', 1).text()
    const result = run([file('stale.jsonl', text)])
    expect(result.status).toBe(1)
    expect(result.stdout).toContain('key "x"')
    expect(result.stdout).toContain('process 2 read -> 1 (invoke line 5, return line 6)')
    expect(result.stdout).toContain('process 1 write 2 (invoke line 3, return line 4)')
  })

  it('exits 2 with the line number on malformed input', () => {
    const result = run([file('bad.jsonl', history().write(1, 'x', 1).text() + '{"process": 1,\n')])
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('line 3')
  })

  it('exits 2 on an unreadable file and on bad flags', () => {
    expect(run([join(dir, 'missing.jsonl')]).status).toBe(2)
    expect(run(['--max-steps', 'lots', file('flags.jsonl', '')]).status).toBe(2)
    expect(run([]).status).toBe(2)
  })

  it('exits 3 when the budget runs out', () => {
    const h = history()
    for (let p = 0; p < 6; p++) h.invoke(p, 'write', 'x', p)
    h.read(99, 'x', 'nobody')
    for (let p = 0; p < 6; p++) h.ok(p)
    const result = run(['--max-steps', '10', file('hard.jsonl', h.text())])
    expect(result.status).toBe(3)
    expect(result.stdout).toContain('undecided')
  })
})
