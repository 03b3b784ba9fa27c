import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AbortError, InvalidArgumentError } from '../../src/util/errors.js'
import { GroupUnreachableError, RemoteError } from '../../src/net/client.js'
import { parseHistory } from '../../src/sim/lincheck/index.js'
import { ChaosHistory, classifyFailure, runChaos } from '../../simulations/chaos-run.js'
import type { ChaosResult } from '../../simulations/chaos-run.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

describe('chaos history recording and checking', () => {
  let clock = 0
  const tick = (): number => ++clock

  it('an error is fail only when no attempt can have applied the operation', () => {
    expect(classifyFailure(new InvalidArgumentError('bad'))).toBe('fail')
    expect(classifyFailure(new RemoteError('ERR_INVALID_COMMAND', 'bad'))).toBe('fail')
    // A refusal at a lagging member says nothing of an earlier attempt a leader may have proposed.
    expect(classifyFailure(new RemoteError('ERR_ACCESS_REFUSED', 'no'))).toBe('info')
    expect(classifyFailure(new AbortError())).toBe('info')
    expect(classifyFailure(new GroupUnreachableError('none'))).toBe('info')
    expect(classifyFailure(new RemoteError('ERR_STREAM_CLOSED', 'closed'))).toBe('info')
    expect(classifyFailure(new Error('anything else'))).toBe('info')
  })

  it('a stale read after a completed write is caught (the bug a read without read-index would cause)', async () => {
    const h = new ChaosHistory(tick)
    await h.record(0, { f: 'write', key: 'k0', value: 1 }, async () => ({ ok: true }))
    await h.record(1, { f: 'write', key: 'k0', value: 2 }, async () => ({ ok: true }))
    // A follower that has not applied the second write answers from its own state.
    await h.record(0, { f: 'read', key: 'k0' }, async () => 1)
    const { verdict, casVerdict } = h.check(10_000)
    expect(verdict.outcome).toBe('not linearizable')
    expect(casVerdict.outcome).toBe('not linearizable')
    if (verdict.outcome === 'not linearizable') expect(verdict.report).toMatch(/read -> 1/)
    // The same history is fine with the fresh value.
    const good = new ChaosHistory(tick)
    await good.record(0, { f: 'write', key: 'k0', value: 1 }, async () => ({ ok: true }))
    await good.record(1, { f: 'write', key: 'k0', value: 2 }, async () => ({ ok: true }))
    await good.record(0, { f: 'read', key: 'k0' }, async () => 2)
    expect(good.check(10_000).verdict.outcome).toBe('linearizable')
  })

  it('an unknown write may or may not have happened; a failed one did not', async () => {
    const unknown = new ChaosHistory(tick)
    await unknown.record(0, { f: 'write', key: 'k0', value: 7 }, async () => { throw new AbortError() })
    await unknown.record(1, { f: 'read', key: 'k0' }, async () => 7)
    await unknown.record(1, { f: 'read', key: 'k0' }, async () => 7)
    expect(unknown.check(10_000).verdict.outcome).toBe('linearizable')
    expect(unknown.ops.write).toEqual({ ok: 0, fail: 0, info: 1 })

    const failed = new ChaosHistory(tick)
    await failed.record(0, { f: 'write', key: 'k0', value: 7 }, async () => { throw new RemoteError('ERR_INVALID_COMMAND', 'x') })
    await failed.record(1, { f: 'read', key: 'k0' }, async () => 7)
    expect(failed.check(10_000).verdict.outcome).toBe('not linearizable')
  })

  it('a cas answered {ok:false} while the register held its expected value is caught by the KV model check', async () => {
    const h = new ChaosHistory(tick)
    await h.record(0, { f: 'write', key: 'k0', value: 5 }, async () => ({ ok: true }))
    await h.record(1, { f: 'cas', key: 'k0', expected: 5, value: 6 }, async () => ({ ok: false }))
    expect(h.casMismatches).toBe(1)
    expect(h.ops.cas).toEqual({ ok: 1, fail: 0, info: 0 })
    const { verdict, casVerdict } = h.check(10_000)
    // The register format can only say "did not take effect" for it, which is consistent…
    expect(verdict.outcome).toBe('linearizable')
    // …the KV model keeps the answer and refutes it.
    expect(casVerdict.outcome).toBe('not linearizable')
  })

  it('writes JSON lines that the lincheck parser accepts, with error codes on failed completions', async () => {
    const h = new ChaosHistory(tick)
    await h.record(0, { f: 'cas', key: 'k0', expected: null, value: 1 }, async () => ({ ok: true }))
    await h.record(0, { f: 'cas', key: 'k0', expected: 9, value: 2 }, async () => ({ ok: false }))
    await h.record(1, { f: 'write', key: 'k1', value: 3 }, async () => { throw new GroupUnreachableError('x') })
    const text = h.text()
    expect(parseHistory(text)).toHaveLength(6)
    expect(text).toContain('"error":"cas-mismatch"')
    expect(text).toContain('"type":"info","f":"write","key":"k1","value":3')
    expect(text).toContain('"error":"ERR_GROUP_UNREACHABLE"')
  })
})

describe('chaos run: 3 member processes, 4 clients, 20 s of kill -9 and SIGSTOP', () => {
  let dir: string
  let result: ChaosResult
  const lines: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vpeer-chaos-test-'))
    // runChaos closes its cluster (kills every member by PID, removes its folder) in its own finally.
    result = await runChaos({ nodes: 3, clients: 4, durationS: 20, seed: 7, history: join(dir, 'history.jsonl'), faults: { kill: true, pause: true }, log: line => { lines.push(line) } })
  }, 240_000)

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('is linearizable, converges, and really injected faults under load', () => {
    const context = `${lines.join('\n')}\n${JSON.stringify(result, null, 1)}`
    expect(result.verdict.outcome, context).toBe('linearizable')
    expect(result.casVerdict.outcome, context).not.toBe('not linearizable')
    expect(result.converged, context).toBe(true)
    expect(result.problems, context).toEqual([])
    expect(result.faults.kills, context).toBeGreaterThanOrEqual(1)
    expect(result.faults.pauses, context).toBeGreaterThanOrEqual(1)
    expect(result.access.refusedBeforeAllow, context).toBe(true)
    const ok = result.ops.read.ok + result.ops.write.ok + result.ops.cas.ok
    // A few hundred per run even on the loaded 2-core machine; a stuck group gets a handful.
    expect(ok, context).toBeGreaterThanOrEqual(200)
    expect(result.ops.write.ok, context).toBeGreaterThanOrEqual(30)
    expect(result.passed, context).toBe(true)
  })

  it('wrote a history that npm run lincheck accepts and finds linearizable', async () => {
    const file = join(dir, 'history.jsonl')
    expect(parseHistory(await readFile(file, 'utf8')).length).toBe(result.events)
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/sim/lincheck-cli.ts', file], { cwd: root, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^linearizable/)
  })
})
