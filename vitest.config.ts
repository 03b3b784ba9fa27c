import { defineConfig } from 'vitest/config'
import { BaseSequencer } from 'vitest/node'
import type { TestSpecification } from 'vitest/node'

/**
 * The longest files start first, so that they overlap the rest instead of forming the tail of
 * the run (on a fresh checkout there is no timing cache to order by). Ordered by a full run on
 * a loaded 2-core machine (seconds, after the trims of the default suite): the 3-node VOPR
 * sweep ~110, the CLI help and both process tests ~85-100 each (they spawn tsx processes), the nemesis
 * sweeps, the MTTF CLI and the tarball ~60, the group turnover, the 5-node VOPR sweep and the
 * rolling replacement ~50. `npm run test:long` runs the full-size group turnover alone.
 */
const LONG_FIRST = [
  'test/sim/vopr-3-nodes.spec.ts',
  'test/unit/cli-help.spec.ts',
  'test/net/processes.spec.ts',
  'test/replica/processes.spec.ts',
  'test/sim/vopr-nemesis-5-7-nodes.spec.ts',
  'test/unit/mttf/cli.spec.ts',
  'test/package/tarball.spec.ts',
  'test/net/group-dht.spec.ts',
  'test/sim/vopr-5-nodes.spec.ts',
  'test/sim/rolling-replacement.spec.ts',
  'test/sim/vopr-nemesis-3-nodes.spec.ts'
]

class LongFirstSequencer extends BaseSequencer {
  override async sort (files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (f: TestSpecification): number => {
      const i = LONG_FIRST.findIndex(name => f.moduleId.replaceAll('\\', '/').endsWith(name))
      return i === -1 ? LONG_FIRST.length : i
    }
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(x => x.f)
  }
}

// `vitest --mode long` (npm run test:long) sets VPEER_LONG=1: the specs that have a full-size
// variant (the group turnover) run it instead of the default-size one.
export default defineConfig(({ mode }) => ({
  test: {
    include: ['test/**/*.spec.ts'],
    // Simulation suites are CPU-bound; two workers match the 2-core CI machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    sequence: { sequencer: LongFirstSequencer },
    env: mode === 'long' ? { VPEER_LONG: '1' } : {}
  }
}))
