import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))

// The README's main command: three replication nodes converge, an edit spreads, an offline edit
// becomes a conflict copy on every machine; a second run continues from the folders.
describe('npm run demo (examples/sync-demo.ts)', () => {
  it('passes its checks twice in a row on the same folders', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-demo-'))
    try {
      for (const run of [1, 2]) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/sync-demo.ts', '--data', dir], { cwd: root, encoding: 'utf8', timeout: 150_000 })
        expect(r.status, `run ${run}: ${r.stdout}\n${r.stderr}`).toBe(0)
        expect(r.stdout).toMatch(/every machine has every file/)
        expect(r.stdout).toMatch(/both versions kept: notes\/ideas\.md .* and notes\/ideas\.conflict-/)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 320_000)
})
