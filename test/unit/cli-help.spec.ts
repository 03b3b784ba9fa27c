import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))
const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts

// Every command a user can run prints its usage on --help, exits 0 and does nothing else.
const CLIS = Object.keys(scripts).filter(name => /^(sim|fuzz|chaos|lincheck|demo|vpeer|bench:|example:)/.test(name))

describe('--help everywhere', () => {
  it('covers the commands of the README', () => {
    expect(CLIS).toEqual(expect.arrayContaining(['sim', 'sim:mttf', 'fuzz', 'chaos', 'fuzz:codec', 'lincheck', 'demo', 'demo:sim', 'vpeer', 'bench:core', 'bench:storage', 'bench:snapshots', 'bench:replacement', 'bench:sessions', 'bench:net', 'example:local']))
  })

  it.each(CLIS)('npm run %s -- --help', (name) => {
    const r = spawnSync('npm', ['run', '-s', name, '--', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/usage/i)
  })
})
