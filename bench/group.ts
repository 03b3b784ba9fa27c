/**
 * The group address measured (issue 10): a virtual peer of 5 inside a private DHT on 127.0.0.1,
 * in this process (simulations/group-cluster.ts), reached by clients that know only the group
 * key and one bootstrap address (a plain DHT node, never a member).
 *
 *   npm run bench:group                          JSON on stdout, progress on stderr
 *   npm run bench:group -- --markdown            a README table on stdout instead
 *   npm run bench:group -- --quick               one small DHT, few repetitions (smoke test)
 *
 * For each DHT size (`--sizes`, total DHT servers: plain nodes + 5 voters + the spares):
 *   - first write: a fresh client's start (`VirtualPeerClient.connect` with the key and a
 *     random plain node's address: a libp2p node, a bootstrap dial, a provider lookup) until
 *     its first write is committed; `--reps` clients one after the other, each with another
 *     bootstrap node;
 *   - send: one client found that way submits `--sends` writes one at a time: latency p50/p99
 *     (the call measured is `MEASURED_CALL`, one function);
 *   - membership change → fresh client: a follower is stopped for good; from the moment the
 *     leader has committed its replacement (polled every 5 ms), a fresh client connects and
 *     asks `info()` until the voters it sees are the new configuration's. `--changes` trials,
 *     one spare used up by each.
 *
 * Everything shares this process and the machine's 2 cores: startup figures (routing tables
 * ready, RSS, event-loop delay) are reported with each size.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { DHT_SPARES, GroupCluster } from '../simulations/group-cluster.js'
import type { KvClient, StartupStats } from '../simulations/group-cluster.js'
import type { Configuration } from '../src/paxos/index.js'
import { UsageError, benchCli, intFlag, intListFlag, parseFlags, runIfMain } from './cli-errors.js'
import { machineInfo } from './machine.js'
import type { MachineInfo } from './machine.js'

export const VOTERS = 5

export const USAGE = `usage: npm run bench:group -- [--json | --markdown] [--quick] [--sizes 20,50]
       [--reps N] [--sends N] [--changes N]

A virtual peer of ${VOTERS} members in a private DHT of plain libp2p nodes on 127.0.0.1, all in this
process; clients know only the group key and one bootstrap address (a non-member).
  --json          the full result as JSON on stdout (default)
  --markdown      a README table on stdout instead
  --quick         one DHT of 12 nodes, 2 clients, 20 sends, 1 change (smoke test; not a measurement)
  --sizes LIST    DHT sizes, total servers incl. members and spares (default 20,50; quick 12)
  --reps N        fresh clients timed to their first committed write, per size (default 5; quick 2)
  --sends N       writes timed one at a time through one client, per size (default 200; quick 20)
  --changes N     membership changes timed to a fresh client seeing them, per size (default 3; quick 1)
  --help          this text
Progress goes to stderr. Exit codes: 0 done, 1 the bench failed, 2 bad options.`

export interface Options {
  readonly format: 'json' | 'markdown'
  readonly quick: boolean
  readonly sizes: readonly number[]
  readonly reps: number
  readonly sends: number
  readonly changes: number
}

export function parseOptions (argv: readonly string[]): Options {
  const values = parseFlags(argv, {
    json: { type: 'boolean' },
    markdown: { type: 'boolean' },
    quick: { type: 'boolean' },
    sizes: { type: 'string' },
    reps: { type: 'string' },
    sends: { type: 'string' },
    changes: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, USAGE)
  if (values.json === true && values.markdown === true) throw new UsageError('--json and --markdown exclude each other')
  const quick = values.quick === true
  const changes = intFlag('changes', values.changes, quick ? 1 : 3, 0, 20)
  const sizes = intListFlag('sizes', values.sizes, quick ? [12] : [20, 50], 1, 500)
  // At least one plain node (the bootstrap) besides the voters and one spare per change.
  const least = VOTERS + changes + 1
  for (const s of sizes) if (s < least) throw new UsageError(`--sizes: ${s} is too small: ${VOTERS} voters + ${changes} spares (one per change) + 1 plain node need ${least}`)
  return {
    format: values.markdown === true ? 'markdown' : 'json',
    quick,
    sizes,
    reps: intFlag('reps', values.reps, quick ? 2 : 5, 1, 1000),
    sends: intFlag('sends', values.sends, quick ? 20 : 200, 1, 100_000),
    changes
  }
}

// ---------------------------------------------------------------------------------------------
// Results

export interface Stats {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly min: number
  readonly max: number
  readonly mean: number
}

export interface FirstWriteRun {
  /** Client start → `connect` resolved (providers found). */
  readonly connectMs: number
  /** Client start → first write committed. */
  readonly firstWriteMs: number
  /** The plain node the client was given (its name in the harness). */
  readonly bootstrap: string
}

export interface ChangeRun {
  readonly killed: string
  readonly joined: string
  /** Kill → the leader committed the replacement (replaceAfterMs, catch-up, promotion). */
  readonly replaceMs: number
  /** Replacement committed → a fresh client's `info()` shows the new voters. */
  readonly freshClientMs: number
  /** … of which its `connect` (bootstrap dial, provider lookup). */
  readonly connectMs: number
}

export interface SizeResult {
  readonly dhtNodes: number
  readonly plain: number
  readonly voters: number
  readonly spares: number
  readonly startup: StartupStats
  readonly firstWrite: { readonly runs: readonly FirstWriteRun[], readonly ms: Stats, readonly connectMs: Stats }
  readonly send: { readonly call: string, readonly latencyMs: Stats, readonly errors: number }
  readonly change: { readonly runs: readonly ChangeRun[], readonly freshClientMs: Stats, readonly replaceMs: Stats } | null
  /** This process's CPU seconds over the size's measurements (start-up excluded). */
  readonly cpuSeconds: number
}

export interface GroupBenchResult extends MachineInfo {
  readonly bench: 'group'
  readonly params: {
    readonly quick: boolean
    readonly sizes: readonly number[]
    readonly reps: number
    readonly sends: number
    readonly changes: number
    readonly voters: number
    readonly transport: 'libp2p tcp + noise + yamux on 127.0.0.1, one process'
    readonly dht: '/vpeer/kad/1.0.0 (kad-dht, k = 20)'
    readonly provideEveryMs: number
    readonly replaceAfterMs: number
  }
  readonly sizes: readonly SizeResult[]
}

const r1 = (x: number): number => Math.round(x * 10) / 10

/** Nearest-rank percentiles (p99 of fewer than 100 samples is the maximum). */
export function summarize (xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  const rank = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? 0
  return { count: s.length, p50: r1(rank(0.5)), p99: r1(rank(0.99)), min: r1(s[0] ?? 0), max: r1(s[s.length - 1] ?? 0), mean: r1(s.reduce((a, x) => a + x, 0) / Math.max(1, s.length)) }
}

// ---------------------------------------------------------------------------------------------
// The measurements

/**
 * The call the send figure times: `send`, the command given to every voter at once under one
 * session (the first member to apply it answers).
 */
export const MEASURED_CALL: { readonly name: string, readonly call: (client: KvClient, i: number, signal: AbortSignal) => Promise<unknown> } = {
  name: 'send (KV write to every voter, 1 in flight)',
  call: async (client, i, signal) => await client.send({ f: 'write', key: `send/${i}`, value: i }, { signal })
}

const PROVIDE_EVERY_MS = 10_000
const REPLACE_AFTER_MS = 1000

class SizeBench {
  constructor (readonly cluster: GroupCluster, readonly o: Options, readonly log: (line: string) => void) {}

  /** A random live plain node's address: each fresh client starts from another one. */
  randomBootstrap (): string {
    const plain = this.cluster.list().filter(n => n.role === 'dht' && n.alive)
    const pick = plain[Math.floor(Math.random() * plain.length)]
    if (pick === undefined) throw new Error('no plain DHT node left')
    return this.cluster.addressOf(pick.id)
  }

  async firstWrites (): Promise<FirstWriteRun[]> {
    const runs: FirstWriteRun[] = []
    for (let i = 0; i < this.o.reps; i++) {
      const bootstrap = this.randomBootstrap()
      const started = performance.now()
      const client = await this.cluster.connectClient({ bootstrap, signal: AbortSignal.timeout(60_000) })
      try {
        const connectMs = performance.now() - started
        await client.submit({ f: 'write', key: `first/${i}`, value: i }, { signal: AbortSignal.timeout(60_000) })
        const run = { connectMs: r1(connectMs), firstWriteMs: r1(performance.now() - started), bootstrap: this.cluster.nameOf(idOf(bootstrap)) }
        runs.push(run)
        this.log(`  client ${i + 1}/${this.o.reps} (bootstrap ${run.bootstrap}): providers found after ${run.connectMs} ms, first write committed after ${run.firstWriteMs} ms`)
      } finally {
        await client.close()
      }
    }
    return runs
  }

  async sends (): Promise<{ latencies: number[], errors: number }> {
    const client = await this.cluster.connectClient({ bootstrap: this.randomBootstrap(), signal: AbortSignal.timeout(60_000) })
    try {
      // Warm: the leader found, the stream open.
      await client.submit({ f: 'write', key: 'send/warm', value: 0 }, { signal: AbortSignal.timeout(60_000) })
      const latencies: number[] = []
      let errors = 0
      for (let i = 0; i < this.o.sends; i++) {
        const t = performance.now()
        try {
          await MEASURED_CALL.call(client, i, AbortSignal.timeout(30_000))
          latencies.push(performance.now() - t)
        } catch {
          errors++
        }
      }
      return { latencies, errors }
    } finally {
      await client.close()
    }
  }

  async changes (): Promise<ChangeRun[]> {
    const runs: ChangeRun[] = []
    for (let t = 0; t < this.o.changes; t++) {
      const before = this.cluster.configuration()
      const leader = this.cluster.leader()
      // A follower: the figure is the DHT's, not an election's.
      const victim = before.voters.find(v => v !== leader?.id)
      if (victim === undefined) throw new Error('no follower to replace')
      const killedAt = performance.now()
      await this.cluster.kill(victim)
      const after = await this.committedWithout(victim, killedAt + 60_000)
      const committedAt = performance.now()
      const joined = after.voters.find(v => !before.voters.includes(v)) ?? '?'
      const want = [...after.voters].sort().join()
      const client = await this.cluster.connectClient({ bootstrap: this.randomBootstrap(), signal: AbortSignal.timeout(60_000) })
      const connectMs = performance.now() - committedAt
      let freshClientMs: number
      try {
        for (;;) {
          const view = await client.info({ signal: AbortSignal.timeout(30_000) })
          if ([...view.voters].sort().join() === want) { freshClientMs = performance.now() - committedAt; break }
          if (performance.now() - committedAt > 60_000) throw new Error(`a fresh client still saw ${view.voters.length} other voters 60 s after the change`)
          await sleep(5)
        }
      } finally {
        await client.close()
      }
      const run = { killed: this.cluster.nameOf(victim), joined: this.cluster.nameOf(joined), replaceMs: r1(committedAt - killedAt), freshClientMs: r1(freshClientMs), connectMs: r1(connectMs) }
      runs.push(run)
      this.log(`  change ${t + 1}/${this.o.changes}: ${run.killed} stopped for good, ${run.joined} committed in its place after ${run.replaceMs} ms; a fresh client saw the new voters ${run.freshClientMs} ms after the commit (connected after ${run.connectMs} ms)`)
    }
    return runs
  }

  /** Polls the leader every 5 ms until a committed configuration without `victim` is full again. */
  private async committedWithout (victim: string, deadline: number): Promise<Configuration> {
    for (;;) {
      const leader = this.cluster.leader()
      const s = leader?.vp.status()
      if (s !== undefined && s.configurations.length <= 1 && !s.configuration.voters.includes(victim) && s.configuration.voters.length === VOTERS && s.configuration.learners.length === 0) return s.configuration
      if (performance.now() > deadline) throw new Error(`${this.cluster.nameOf(victim)} was not replaced within 60 s`)
      await sleep(5)
    }
  }
}

function idOf (address: string): string {
  return address.slice(address.lastIndexOf('/p2p/') + 5)
}

/** Runs every size. Throws if a measurement cannot complete. */
export async function run (o: Options, log: (line: string) => void): Promise<GroupBenchResult> {
  const sizes: SizeResult[] = []
  for (const size of o.sizes) {
    const spares = o.changes
    const plain = size - VOTERS - spares
    log(`DHT of ${size}: ${plain} plain nodes, ${VOTERS} voters, ${spares} spare${spares === 1 ? '' : 's'}`)
    const cluster = await GroupCluster.start({ dhtNodes: plain, voters: VOTERS, spares, spareSource: DHT_SPARES, provideEveryMs: PROVIDE_EVERY_MS, replaceAfterMs: REPLACE_AFTER_MS, progress: line => { log(`  ${line}`) } })
    try {
      const startup = cluster.startup as StartupStats
      const bench = new SizeBench(cluster, o, log)
      const cpu0 = process.cpuUsage()
      const firstRuns = await bench.firstWrites()
      const sends = await bench.sends()
      const send = { call: MEASURED_CALL.name, latencyMs: summarize(sends.latencies), errors: sends.errors }
      log(`  ${sends.latencies.length} sends: p50 ${send.latencyMs.p50} ms, p99 ${send.latencyMs.p99} ms${sends.errors > 0 ? `, ${sends.errors} failed` : ''}`)
      const changeRuns = o.changes > 0 ? await bench.changes() : []
      const cpu = process.cpuUsage(cpu0)
      sizes.push({
        dhtNodes: cluster.size,
        plain,
        voters: VOTERS,
        spares,
        startup,
        firstWrite: { runs: firstRuns, ms: summarize(firstRuns.map(r => r.firstWriteMs)), connectMs: summarize(firstRuns.map(r => r.connectMs)) },
        send,
        change: changeRuns.length === 0 ? null : { runs: changeRuns, freshClientMs: summarize(changeRuns.map(r => r.freshClientMs)), replaceMs: summarize(changeRuns.map(r => r.replaceMs)) },
        cpuSeconds: r1((cpu.user + cpu.system) / 1e6)
      })
    } finally {
      await cluster.stop()
    }
  }
  return {
    bench: 'group',
    ...machineInfo(),
    params: {
      quick: o.quick,
      sizes: o.sizes,
      reps: o.reps,
      sends: o.sends,
      changes: o.changes,
      voters: VOTERS,
      transport: 'libp2p tcp + noise + yamux on 127.0.0.1, one process',
      dht: '/vpeer/kad/1.0.0 (kad-dht, k = 20)',
      provideEveryMs: PROVIDE_EVERY_MS,
      replaceAfterMs: REPLACE_AFTER_MS
    },
    sizes
  }
}

/** The README table: one column per DHT size. */
export function markdownTable (r: GroupBenchResult): string {
  const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 1 })
  const s = r.sizes
  const row = (label: string, cell: (x: SizeResult) => string): string => `| ${label} | ${s.map(cell).join(' | ')} |`
  const lines = [
    `vpeer group address: a VP of ${r.params.voters} in a private DHT on 127.0.0.1, every node in one process; clients know only the group key and one plain node's address; ${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.date.slice(0, 10)}${r.params.quick ? ' — QUICK RUN, not a measurement' : ''}`,
    '',
    `| figure | ${s.map(x => `DHT of ${x.dhtNodes}`).join(' | ')} |`,
    `|---|${s.map(() => '---:').join('|')}|`,
    row('client start → first committed write, ms: p50 / p99 (runs)', x => `${n(x.firstWrite.ms.p50)} / ${n(x.firstWrite.ms.p99)} (${x.firstWrite.ms.count})`),
    row('… of which connect (bootstrap dial + provider lookup), ms p50', x => n(x.firstWrite.connectMs.p50)),
    row(`send latency, ms: p50 / p99 (${r.params.sends} ${s[0]?.send.call ?? ''})`, x => `${n(x.send.latencyMs.p50)} / ${n(x.send.latencyMs.p99)}`),
    row('replacement committed → a fresh client sees the new voters, ms: p50 (max, runs)', x => x.change === null ? '–' : `${n(x.change.freshClientMs.p50)} (${n(x.change.freshClientMs.max)}, ${x.change.freshClientMs.count})`),
    row(`follower stopped → replacement committed, ms p50 (replaceAfter ${n(r.params.replaceAfterMs)} ms)`, x => x.change === null ? '–' : n(x.change.replaceMs.p50)),
    row('start-up: routing tables ready, ms (min / median table size)', x => `${n(x.startup.routingTables.readyMs)} (${x.startup.routingTables.min} / ${x.startup.routingTables.p50})`),
    row('process RSS after start-up, MB; event-loop delay p99 during it, ms', x => `${n(x.startup.rssMB)}; ${n(x.startup.eventLoopDelayMs.p99)}`)
  ]
  return lines.join('\n')
}

export function formatResult (r: GroupBenchResult, format: Options['format']): string {
  return format === 'markdown' ? markdownTable(r) : JSON.stringify(r, null, 2)
}

/** The CLI: returns the exit code (0 done, 2 bad flags); a failure of the bench itself throws. */
export async function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  return await benchCli(argv, out, err, { usage: USAGE, parse: parseOptions, run, format: (r, o) => formatResult(r, o.format) })
}

runIfMain(import.meta.url, 'bench:group', cli)
