#!/usr/bin/env node
/**
 * The `vpeer` command. Replicated folders (sync-commands.ts): `init`, `start`, `invite`, `join`,
 * `status`, `conflicts`, `revoke`. And a plain virtual peer running the KV state machine
 * (registers with write, cas and linearizable reads): `cluster-init` a cluster folder, run a
 * `node` (a member or a spare) from it, and talk to the group as a `client`.
 *
 *   vpeer init ~/Sync && vpeer start ~/Sync
 *   vpeer cluster-init --dir data/demo [--members 3] [--spares 1]
 *   vpeer node --dir data/demo/m1 --cluster data/demo/cluster.json
 *   vpeer node --dir data/spare7 --cluster data/demo/cluster.json --dht --spare   (a spare found in the DHT)
 *   vpeer client --cluster data/demo/cluster.json --identity data/demo/admin.key put x 1
 */
import '../util/polyfills.js'
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import { mkdir, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { basename, join, resolve } from 'node:path'
import { pino } from 'pino'
import type { NetLogger } from '../alm/log.js'
import { loadOrCreateIdentity, readIdentity } from '../alm/identity.js'
import { VirtualPeerClient } from '../net/client.js'
import { dialAddresses, readClusterSpec } from '../net/cluster-spec.js'
import { initCluster } from '../net/init.js'
import { groupKey } from '../net/group-key.js'
import { Member } from '../net/member.js'
import { KvStateMachine } from '../sim/kv.js'
import { addSyncCommands } from './sync-commands.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../sim/kv.js'

function int (name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new CommanderArgumentError(`${name} must be an integer in ${min}..${max}`)
    return n
  }
}

function logger (level: string, name: string): NetLogger {
  const log = pino({ level, base: { node: name } })
  return {
    debug: (f, m) => { log.debug(f, m) },
    info: (f, m) => { log.info(f, m) },
    warn: (f, m) => { log.warn(f, m) },
    error: (f, m) => { log.error(f, m) }
  }
}

/**
 * The V8 sampling profiler of this process through the inspector (node's --cpu-prof cannot be
 * given to a child through NODE_OPTIONS, and `vpeer node` is usually a child of a test or bench).
 * `stop` writes a .cpuprofile that Chrome DevTools and speedscope open.
 */
async function startCpuProfile (dir: string, name: string): Promise<{ stop: () => Promise<string> }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      await mkdir(dir, { recursive: true })
      const file = join(dir, `${name}-${process.pid}.cpuprofile`)
      await writeFile(file, JSON.stringify(profile))
      return file
    }
  }
}

const program = new Command()
program
  .name('vpeer')
  .description('Fault-tolerant virtual peers: Multi-Paxos over libp2p. Exit codes: 0 ok, 1 failure, 2 bad usage.')
  .showHelpAfterError()
  .exitOverride(error => {
    process.exit(error.exitCode === 0 ? 0 : error.code === 'commander.help' || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2)
  })

addSyncCommands(program, logger, int)

program.command('cluster-init')
  .description('create a cluster folder for a KV virtual peer (vpeer node, vpeer client): identities (mode 0600) and the cluster file')
  .requiredOption('--dir <dir>', 'folder to create (must not hold a cluster yet)')
  .option('--members <n>', 'voters', int('--members', 1, 99), 3)
  .option('--spares <n>', 'spares that can replace a dead voter', int('--spares', 0, 99), 1)
  .option('--group <name>', 'group name', 'vpeer')
  .option('--host <ip>', 'listen address of every node', '127.0.0.1')
  .option('--base-port <port>', 'first TCP port (default: free ports)', int('--base-port', 1, 65535))
  .action(async (o: { dir: string, members: number, spares: number, group: string, host: string, basePort?: number }) => {
    const result = await initCluster({ dir: resolve(o.dir), members: o.members, spares: o.spares, group: o.group, host: o.host, ...(o.basePort !== undefined ? { basePort: o.basePort } : {}) })
    process.stdout.write(JSON.stringify({ cluster: result.clusterFile, admin: result.adminKey, nodes: result.nodes }, null, 2) + '\n')
  })

program.command('node')
  .description('run one member (or spare) of the cluster: LevelDB in <dir>/db, identity in <dir>/identity.key; JSON logs on stdout; SIGTERM stops it gracefully')
  .requiredOption('--dir <dir>', 'this node\'s folder (from vpeer cluster-init)')
  .requiredOption('--cluster <file>', 'the cluster file')
  .option('--listen <multiaddr...>', 'listen addresses (default: this node\'s in the cluster file)')
  .option('--tick-ms <ms>', 'core tick', int('--tick-ms', 1, 1000), 10)
  .option('--snapshot-every <slots>', 'snapshot every this many slots (0 = never)', int('--snapshot-every', 0, 1e9), 10_000)
  .option('--log-retention <slots>', 'slots kept below a snapshot to serve catch-up from the log (fewer: a lagging member gets a snapshot sooner)', int('--log-retention', 0, 1e9), 1000)
  .option('--replace-after-ms <ms>', 'a voter silent this long is replaced by a spare (while this node leads)', int('--replace-after-ms', 100, 86_400_000), 3000)
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
  .option('--dht', 'serve the group\'s private DHT and provide the group key there (clients then need only the key and one DHT address)')
  .option('--spare', 'offer this node as a spare through the DHT (needs --dht): it may be absent from the cluster file, joins the DHT through the voters there, and waits for an administrator to allow its id and a leader to add it (default for a --dht node that is not a voter)')
  .option('--spare-refresh-ms <ms>', 'how often every --dht member looks up and probes the spares in the DHT', int('--spare-refresh-ms', 100, 3_600_000), 5000)
  .option('--cpu-prof <dir>', 'profile this node\'s CPU (V8 sampling profiler) and write <dir>/<name>-<pid>.cpuprofile when it stops gracefully (SIGTERM/SIGINT)')
  .action(async (o: { dir: string, cluster: string, listen?: string[], tickMs: number, snapshotEvery: number, logRetention: number, replaceAfterMs: number, logLevel: string, cpuProf?: string, dht?: boolean, spare?: boolean, spareRefreshMs: number }) => {
    if (o.spare === true && o.dht !== true) throw new CommanderArgumentError('--spare needs --dht (spares announce themselves in the DHT)')
    const cluster = await readClusterSpec(o.cluster)
    // A spare found in the DHT starts from an empty folder: its identity is created here.
    await mkdir(o.dir, { recursive: true, mode: 0o700 })
    const identity = await loadOrCreateIdentity(join(o.dir, 'identity.key'))
    const listed = cluster.voters.includes(identity.id) || cluster.spares.includes(identity.id)
    if (!listed && o.spare !== true) {
      throw new CommanderArgumentError(`identity ${identity.id} (${join(o.dir, 'identity.key')}) is neither a voter nor a spare in ${o.cluster} (a spare found in the DHT runs with --dht --spare)`)
    }
    // A spare the cluster file does not list listens on the voters' host, on a port the OS picks.
    const listen = o.listen ?? (listed ? undefined : [(cluster.addresses[cluster.voters[0] as string]?.[0] ?? '/ip4/127.0.0.1/tcp/0').replace(/\/tcp\/\d+/, '/tcp/0')])
    const log = logger(o.logLevel, identity.id.slice(-8))
    const profiler = o.cpuProf !== undefined ? await startCpuProfile(resolve(o.cpuProf), basename(resolve(o.dir))) : undefined
    const member = await Member.start<KvCommand, KvResult, KvQuery, KvAnswer>({
      identity,
      dataDir: o.dir,
      cluster,
      ...(listen !== undefined ? { listen } : {}),
      stateMachine: new KvStateMachine(),
      runtime: { tickMs: o.tickMs, snapshotEverySlots: o.snapshotEvery, logRetentionSlots: o.logRetention },
      replacement: { replaceAfterTicks: Math.max(1, Math.round(o.replaceAfterMs / o.tickMs)) },
      log,
      trace: o.logLevel === 'debug',
      dht: o.dht === true,
      onMulticast: n => { log.info({ from: n.from, id: n.id, bytes: n.payload.byteLength, text: new TextDecoder().decode(n.payload.subarray(0, 256)) }, 'multicast received') },
      ...(o.spare === true ? { spare: true } : {}),
      spareRefreshMs: o.spareRefreshMs
    })
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'stopping')
      void member.stop().then(async () => {
        if (profiler !== undefined) log.info({ file: await profiler.stop() }, 'cpu profile written')
        process.exit(0)
      }, (error: unknown) => {
        log.error({ err: String(error) }, 'stop failed')
        process.exit(1)
      })
    }
    process.on('SIGTERM', () => { stop('SIGTERM') })
    process.on('SIGINT', () => { stop('SIGINT') })
  })

program.command('group-key')
  .description('print the group key of a cluster file: the DHT key its members provide (with vpeer node --dht)')
  .requiredOption('--cluster <file>', 'the cluster file')
  .action(async (o: { cluster: string }) => {
    process.stdout.write(JSON.stringify({ group: (await groupKey(await readClusterSpec(o.cluster))).toString() }) + '\n')
  })

program.command('client')
  .description('run one operation against the group and print its result as JSON: put KEY N | send KEY N | cas KEY EXPECTED|null N | get KEY | multicast TEXT | allow PEER [--admin] | revoke PEER | info | id')
  .option('--cluster <file>', 'the cluster file (member addresses)')
  .option('--group <key>', 'instead of --cluster: the group key (vpeer group-key), found through the DHT')
  .option('--bootstrap <multiaddr...>', 'with --group: any peer of the group\'s DHT (with /p2p/)')
  .option('--identity <file>', 'client identity (default: a fresh one; must be on the allow-list)')
  .option('--admin', 'with allow: make the peer an administrator')
  .option('--timeout-ms <ms>', 'give up after', int('--timeout-ms', 1, 3_600_000), 30_000)
  .argument('<op>', 'put | send | cas | get | multicast | allow | revoke | info | id (send: a put given to every voter at once; multicast: a notification every member logs, outside the log)')
  .argument('[args...]')
  .action(async (op: string, args: string[], o: { cluster?: string, group?: string, bootstrap?: string[], identity?: string, admin?: boolean, timeoutMs: number }) => {
    const identity = o.identity !== undefined ? await readIdentity(o.identity) : undefined
    if (op === 'id') {
      process.stdout.write(JSON.stringify({ id: identity?.id ?? null }) + '\n')
      return
    }
    if ((o.cluster === undefined) === (o.group === undefined)) throw new CommanderArgumentError('give either --cluster or --group with --bootstrap')
    let client: VirtualPeerClient<KvCommand, KvResult, KvQuery, KvAnswer>
    if (o.group !== undefined) {
      if (o.bootstrap === undefined) throw new CommanderArgumentError('--group needs --bootstrap')
      client = await VirtualPeerClient.connect<KvCommand, KvResult, KvQuery, KvAnswer>({
        group: o.group, bootstrap: o.bootstrap, ...(identity !== undefined ? { identity } : {}), deadlineMs: o.timeoutMs, signal: AbortSignal.timeout(o.timeoutMs)
      })
    } else {
      const cluster = await readClusterSpec(o.cluster as string)
      const members = [...cluster.voters, ...cluster.spares].flatMap(id => dialAddresses(cluster, id))
      client = await VirtualPeerClient.create<KvCommand, KvResult, KvQuery, KvAnswer>({ members, ...(identity !== undefined ? { identity } : {}), deadlineMs: o.timeoutMs })
    }
    const signal = AbortSignal.timeout(o.timeoutMs)
    const num = (s: string | undefined): number => {
      const n = Number(s)
      if (s === undefined || !Number.isSafeInteger(n)) throw new CommanderArgumentError(`expected an integer, got ${JSON.stringify(s)}`)
      return n
    }
    const key = (s: string | undefined): string => {
      if (s === undefined || s.length === 0) throw new CommanderArgumentError('expected a key')
      return s
    }
    try {
      let out: unknown
      switch (op) {
        case 'put': out = await client.submit({ f: 'write', key: key(args[0]), value: num(args[1]) }, { signal }); break
        case 'send': out = await client.send({ f: 'write', key: key(args[0]), value: num(args[1]) }, { signal }); break
        case 'multicast': out = await client.multicast(new TextEncoder().encode(key(args[0])), { signal }); break
        case 'cas': out = await client.submit({ f: 'cas', key: key(args[0]), expected: args[1] === 'null' ? null : num(args[1]), value: num(args[2]) }, { signal }); break
        case 'get': out = { value: await client.read({ key: key(args[0]) }, { signal }) }; break
        case 'allow': await client.allow(key(args[0]), { admin: o.admin === true, signal }); out = { allowed: args[0], admin: o.admin === true }; break
        case 'revoke': await client.revoke(key(args[0]), { signal }); out = { revoked: args[0] }; break
        case 'info': out = await client.info({ signal }); break
        default: throw new CommanderArgumentError(`unknown operation ${JSON.stringify(op)}`)
      }
      process.stdout.write(JSON.stringify(out) + '\n')
    } finally {
      await client.close()
    }
  })

void program.parseAsync(process.argv).catch((error: unknown) => {
  const code = (error as { code?: unknown }).code
  process.stderr.write(`vpeer: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}\n`)
  process.exit(error instanceof CommanderArgumentError ? 2 : 1)
})
