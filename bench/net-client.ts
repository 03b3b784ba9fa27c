/**
 * The load generator of `bench:net` (bench/net.ts), run as its own process so that its CPU and
 * event loop are not the members' nor the orchestrator's:
 *
 *   node --import tsx bench/net-client.ts --cluster <cluster.json> --identity <admin.key>
 *
 * It keeps one `VirtualPeerClient` (one libp2p node, one stream per member) for its whole life
 * and takes requests as JSON lines on stdin, `{ "id": n, "op": ..., ...args }`, answering each
 * with one JSON line on stdout, `{ "id": n, "ok": true, "result": ... }` or
 * `{ "id": n, "ok": false, "error": "...", "code": "..." }`. Requests run one at a time, except
 * that `first-after` and `probe-stop` are answered while a probe runs. Nothing else is written to
 * stdout; stderr carries crash reports only.
 *
 * Times that cross processes (`probe` records, `first-after`) are epoch milliseconds with
 * sub-millisecond precision (`performance.timeOrigin + performance.now()`), comparable with the
 * orchestrator's on the same machine.
 *
 * The KV store's values are numbers, so the bench's "value bytes" are carried in the key: a write
 * of `valueBytes` is `{ f: 'write', key: <prefix><i> padded to valueBytes, value: i }`, and each
 * key written adds about `valueBytes` to the replicated state.
 */
import '../src/util/polyfills.js'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { readIdentity } from '../src/alm/identity.js'
import { VirtualPeerClient } from '../src/net/client.js'
import { dialAddresses, readClusterSpec } from '../src/net/cluster-spec.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'

type Client = VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>

/** Latency summary of one phase, ms. */
export interface Latency {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** What `writes` and `reads` answer. */
export interface LoadResult {
  readonly ops: number
  readonly inflight: number
  readonly seconds: number
  readonly opsPerSec: number
  readonly latencyMs: Latency
  /** This process's CPU (user + system) over the timed part, seconds. */
  readonly cpuSeconds: number
  readonly errors: number
  readonly firstError?: string
}

export interface ProbeRecord { readonly start: number, readonly end: number, readonly ok: boolean }

export interface Request {
  readonly id: number
  readonly op: 'leader' | 'info' | 'writes' | 'reads' | 'probe-start' | 'first-after' | 'probe-stop' | 'close'
  readonly [arg: string]: unknown
}

const epochMs = (): number => performance.timeOrigin + performance.now()

/** Nearest-rank percentiles of a sample (sorted in place). */
export function latency (xs: number[]): Latency {
  if (xs.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }
  xs.sort((a, b) => a - b)
  const rank = (q: number): number => xs[Math.max(0, Math.ceil(q * xs.length) - 1)] as number
  const r3 = (x: number): number => Math.round(x * 1000) / 1000
  return { count: xs.length, mean: r3(xs.reduce((a, x) => a + x, 0) / xs.length), p50: r3(rank(0.5)), p90: r3(rank(0.9)), p99: r3(rank(0.99)), max: r3(xs[xs.length - 1] as number) }
}

/** `prefix` + `i`, padded with '.' to `bytes` characters (never shorter than the unpadded key). */
export function keyOf (prefix: string, i: number, bytes: number): string {
  const k = `${prefix}${i}/`
  return k.length >= bytes ? k : k + '.'.repeat(bytes - k.length)
}

function int (args: Request, name: string, min: number, fallback?: number): number {
  const raw = args[name] ?? fallback
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min) throw new Error(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`)
  return raw
}

function str (args: Request, name: string, fallback?: string): string {
  const raw = args[name] ?? fallback
  if (typeof raw !== 'string') throw new Error(`${name}: expected a string`)
  return raw
}

/**
 * Runs `total` operations with `inflight` workers, after `warmup` untimed ones. Operation `i`
 * is `op(i)`; a failed operation is counted, not retried (the client already retried it).
 */
async function closedLoop (inflight: number, warmup: number, total: number, op: (i: number) => Promise<unknown>): Promise<LoadResult> {
  let next = 0
  const runPart = async (end: number, timed: number[] | undefined, errors: { n: number, first?: string }): Promise<void> => {
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next < end) {
        const i = next++
        const t0 = performance.now()
        try {
          await op(i)
          timed?.push(performance.now() - t0)
        } catch (error) {
          errors.n++
          errors.first ??= error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error)
        }
      }
    }))
  }
  await runPart(warmup, undefined, { n: 0 })
  const samples: number[] = []
  const errors: { n: number, first?: string } = { n: 0 }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await runPart(warmup + total, samples, errors)
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return {
    ops: samples.length,
    inflight,
    seconds: Math.round(seconds * 1000) / 1000,
    opsPerSec: Math.round(samples.length / seconds),
    latencyMs: latency(samples),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    errors: errors.n,
    ...(errors.first !== undefined ? { firstError: errors.first } : {})
  }
}

/**
 * Open-loop writes, one every `intervalMs` whatever the answers (so that some write always
 * starts right after an event the orchestrator causes), at most `inflightMax` outstanding.
 */
class Probe {
  readonly records: ProbeRecord[] = []
  private timer: ReturnType<typeof setInterval> | undefined
  private outstanding = new Set<Promise<void>>()
  private i = 0
  private readonly waiters: Array<{ after: number, resolve: (r: ProbeRecord) => void }> = []

  constructor (private readonly client: Client, private readonly prefix: string, private readonly valueBytes: number, intervalMs: number, private readonly inflightMax: number) {
    this.timer = setInterval(() => { this.fire() }, intervalMs)
    this.fire()
  }

  private fire (): void {
    if (this.outstanding.size >= this.inflightMax) return
    const i = this.i++
    const start = epochMs()
    const p = this.client.submit({ f: 'write', key: keyOf(this.prefix, i, this.valueBytes), value: i }, { signal: AbortSignal.timeout(60_000) }).then(
      () => { this.done({ start, end: epochMs(), ok: true }) },
      () => { this.done({ start, end: epochMs(), ok: false }) }
    ).finally(() => { this.outstanding.delete(p) })
    this.outstanding.add(p)
  }

  private done (r: ProbeRecord): void {
    this.records.push(r)
    if (!r.ok) return
    for (let k = this.waiters.length - 1; k >= 0; k--) {
      const w = this.waiters[k] as { after: number, resolve: (r: ProbeRecord) => void }
      if (r.start >= w.after) { this.waiters.splice(k, 1); w.resolve(r) }
    }
  }

  /** The first write (by completion) that started at or after `after` and succeeded. */
  async firstAfter (after: number, timeoutMs: number): Promise<ProbeRecord> {
    const known = this.records.find(r => r.ok && r.start >= after)
    if (known !== undefined) return known
    return await new Promise<ProbeRecord>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no write that started after the mark succeeded within ${timeoutMs} ms`)) }, timeoutMs)
      this.waiters.push({ after, resolve: r => { clearTimeout(timer); resolve(r) } })
    })
  }

  async stop (): Promise<{ writes: number, ok: number }> {
    clearInterval(this.timer)
    this.timer = undefined
    await Promise.allSettled([...this.outstanding])
    return { writes: this.records.length, ok: this.records.filter(r => r.ok).length }
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { cluster: { type: 'string' }, identity: { type: 'string' }, 'attempt-timeout-ms': { type: 'string' } }, strict: true })
  if (values.cluster === undefined || values.identity === undefined) throw new Error('usage: net-client.ts --cluster <cluster.json> --identity <admin.key>')
  const spec = await readClusterSpec(values.cluster)
  const identity = await readIdentity(values.identity)
  const members = [...spec.voters, ...spec.spares].flatMap(id => dialAddresses(spec, id))
  const client: Client = await VirtualPeerClient.create({
    members,
    identity,
    deadlineMs: 60_000,
    ...(values['attempt-timeout-ms'] !== undefined ? { attemptTimeoutMs: Number(values['attempt-timeout-ms']) } : {})
  })
  const reply = (line: object): void => { process.stdout.write(JSON.stringify(line) + '\n') }
  let probe: Probe | undefined
  let queue: Promise<void> = Promise.resolve()

  const run = async (r: Request): Promise<unknown> => {
    switch (r.op) {
      case 'leader': {
        const view = await client.whenLeader({ signal: AbortSignal.timeout(int(r, 'timeoutMs', 1, 60_000)) })
        return view
      }
      case 'info': {
        const member = r['member']
        return await client.info({ signal: AbortSignal.timeout(10_000), ...(typeof member === 'string' ? { member } : {}) })
      }
      case 'writes': {
        const prefix = str(r, 'prefix')
        const bytes = int(r, 'valueBytes', 1)
        return await closedLoop(int(r, 'inflight', 1), int(r, 'warmup', 0, 0), int(r, 'count', 1), async i =>
          await client.submit({ f: 'write', key: keyOf(prefix, i, bytes), value: i }, { signal: AbortSignal.timeout(60_000) }))
      }
      case 'reads': {
        // Reads cycle over keys written earlier by a `writes` with the same prefix and size.
        const prefix = str(r, 'prefix')
        const bytes = int(r, 'valueBytes', 1)
        const keys = int(r, 'keys', 1)
        return await closedLoop(int(r, 'inflight', 1), int(r, 'warmup', 0, 0), int(r, 'count', 1), async i => {
          const k = i % keys
          const v = await client.read({ key: keyOf(prefix, k, bytes) }, { signal: AbortSignal.timeout(60_000) })
          if (v !== k) throw new Error(`read ${keyOf(prefix, k, 0)} = ${String(v)}, expected ${k}`)
        })
      }
      case 'probe-start': {
        if (probe !== undefined) throw new Error('a probe is already running')
        probe = new Probe(client, str(r, 'prefix'), int(r, 'valueBytes', 1), int(r, 'intervalMs', 1, 5), int(r, 'inflightMax', 1, 1024))
        return { started: epochMs() }
      }
      case 'first-after': {
        if (probe === undefined) throw new Error('no probe is running')
        return await probe.firstAfter(Number(r['t']), int(r, 'timeoutMs', 1, 60_000))
      }
      case 'probe-stop': {
        if (probe === undefined) throw new Error('no probe is running')
        const p = probe
        probe = undefined
        return await p.stop()
      }
      case 'close':
        await client.close()
        return { closed: true }
    }
    throw new Error(`unknown op ${JSON.stringify((r as { op?: unknown }).op)}`)
  }

  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === '') continue
    const r = JSON.parse(line) as Request
    const answer = (): Promise<void> => run(r).then(
      result => { reply({ id: r.id, ok: true, result }) },
      (error: unknown) => { reply({ id: r.id, ok: false, error: error instanceof Error ? error.message : String(error), code: (error as { code?: unknown })?.code }) }
    )
    // A probe runs in the background; asking about it must not wait behind it.
    if (r.op === 'first-after' || r.op === 'probe-stop') void answer()
    else queue = queue.then(answer)
    if (r.op === 'close') { await queue; break }
  }
  await queue
  await client.close()
  process.exit(0)
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`net-client failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  })
}
