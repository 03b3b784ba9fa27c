/**
 * `npm run demo:cluster [-- --data DIR] [--writes N] [--fresh]`: a virtual peer of three member
 * processes on 127.0.0.1, each with its LevelDB folder, and a client in this process.
 *
 * It creates the cluster folder (identities, cluster file) unless one is there, starts three
 * `vpeer node` processes, writes N keys through `VirtualPeerClient` (16 in flight), reads them
 * back linearizably, kill -9s the leader and measures how long writes stalled, writes more,
 * restarts the killed member from its LevelDB folder and waits until it has caught up, then
 * stops every member with SIGTERM. The folder stays: the next run starts from what this one left
 * (a replicated run counter says which run it is).
 */
import { resolve } from 'node:path'
import { rm } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../src/sim/kv.js'
import type { VirtualPeerClient } from '../src/net/client.js'
import { ProcessCluster } from '../simulations/process-cluster.js'

const USAGE = `usage: npm run demo:cluster -- [options]

Three member processes on 127.0.0.1 (LevelDB, libp2p tcp + noise + yamux) and a client.
  --data DIR    cluster folder (default ./data/cluster-demo; created on first use)
  --writes N    keys written before the leader is killed (default 500; half as many after)
  --fresh       remove the folder first
  --help        this text
Exit codes: 0 every check passed, 1 a check failed, 2 bad options`

type Client = VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>

async function writeAll (client: Client, prefix: string, n: number, inflight = 16): Promise<number> {
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < n) {
      const i = next++
      await client.submit({ f: 'write', key: `${prefix}${i}`, value: i }, { signal: AbortSignal.timeout(30_000) })
    }
  }))
  return n / ((performance.now() - started) / 1000)
}

async function main (): Promise<number> {
  let args
  try {
    args = parseArgs({ options: { data: { type: 'string' }, writes: { type: 'string' }, fresh: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true })
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (args.values.help === true) { process.stdout.write(`${USAGE}\n`); return 0 }
  const writes = Number(args.values.writes ?? 500)
  if (!Number.isSafeInteger(writes) || writes < 1) { process.stderr.write(`--writes must be a positive integer\n\n${USAGE}\n`); return 2 }
  const dir = resolve(args.values.data ?? 'data/cluster-demo')
  if (args.values.fresh === true) await rm(dir, { recursive: true, force: true })

  const out = (line: string): void => { process.stdout.write(`${line}\n`) }
  const cluster = await ProcessCluster.create({ dir, members: 3, spares: 1 })
  let client: Client | undefined
  try {
    out(`cluster folder ${dir}`)
    await cluster.startAll()
    for (const n of cluster.nodes.filter(x => x.role === 'voter')) out(`  ${n.name} pid ${n.child?.pid} ${n.id}  LevelDB ${n.dir}/db`)
    client = await cluster.client<KvCommand, KvResult, KvQuery, KvAnswer>()
    const view = await client.whenLeader({ signal: AbortSignal.timeout(30_000) })
    const run = ((await client.read({ key: 'demo/runs' })) ?? 0) + 1
    await client.submit({ f: 'write', key: 'demo/runs', value: run })
    out(`run ${run}: leader ${cluster.node(view.leader as string).name}, client ${client.id}`)

    const rate = await writeAll(client, `run${run}/k`, writes)
    out(`wrote ${writes} keys at ${Math.round(rate)} writes/s (16 in flight)`)
    for (const i of [0, Math.floor(writes / 2), writes - 1]) {
      const v = await client.read({ key: `run${run}/k${i}` })
      if (v !== i) { out(`FAIL: read run${run}/k${i} = ${String(v)}, expected ${i}`); return 1 }
    }
    out('read back: linearizable reads see every write')

    const leader = (await client.whenLeader()).leader
    if (leader === undefined) { out('FAIL: no leader'); return 1 }
    const victim = cluster.node(leader)
    const killedAt = performance.now()
    await cluster.kill(victim.name)
    await client.submit({ f: 'write', key: 'demo/after-kill', value: run }, { signal: AbortSignal.timeout(30_000) })
    out(`kill -9 ${victim.name} (the leader): the next write committed ${Math.round(performance.now() - killedAt)} ms later`)
    await writeAll(client, `run${run}/after/k`, Math.ceil(writes / 2))
    const target = (await client.whenLeader()).applied
    out(`wrote ${Math.ceil(writes / 2)} more keys with ${victim.name} down; leader applied through slot ${target}`)

    await cluster.start(victim.name)
    const deadline = Date.now() + 30_000
    let caught = 0
    while (Date.now() < deadline) {
      caught = (await client.info({ member: victim.id })).applied
      if (caught >= target) break
      await new Promise(r => setTimeout(r, 50))
    }
    if (caught < target) { out(`FAIL: ${victim.name} applied only through ${caught} of ${target}`); return 1 }
    out(`restarted ${victim.name} from its LevelDB folder: caught up (applied ${caught} ≥ ${target})`)
    await client.close()
    client = undefined
    for (const n of cluster.nodes.filter(x => x.child !== undefined)) await cluster.signal(n.name, 'SIGTERM')
    out('members stopped (SIGTERM); run again to continue from this state, or --fresh to start over')
    return 0
  } finally {
    await client?.close()
    await cluster.close()
  }
}

main().then(code => { process.exitCode = code }, (error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
