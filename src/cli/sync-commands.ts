/**
 * The replication commands of `vpeer`: a folder kept identical on several machines.
 *
 *   vpeer init ~/Sync [--name laptop]           identity, config and .vpeer/ in the folder
 *   vpeer start ~/Sync                          run its replication node (founds a group if it has none)
 *   vpeer invite <peer id> --folder ~/Sync      on a running member: prints an invitation for <peer id>
 *   vpeer join <invitation> --folder ~/Other    on the invited machine, before its first start
 *   vpeer status | conflicts | revoke <peer>    ask the running node of --folder
 */
import type { Command } from 'commander'
import { InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import { resolve } from 'node:path'
import { SingleBar } from 'cli-progress'
import type { NetLogger } from '../alm/log.js'
import { loadOrCreateIdentity } from '../alm/identity.js'
import { controlRequest, controlSocketPath } from '../replica/control.js'
import { folderPaths, initFolder, joinFolder, readFolderConfig } from '../replica/folder.js'
import { ReplicaNode } from '../replica/node.js'
import type { ReplicaStatus } from '../replica/node.js'
import type { CatalogEntry } from '../sync/catalog-types.js'

type MakeLogger = (level: string, name: string) => NetLogger
type IntParser = (name: string, min: number, max: number) => (raw: string) => number

async function ask (folder: string, op: string, args: Record<string, unknown> = {}): Promise<unknown> {
  const root = resolve(folder)
  await readFolderConfig(root)
  return await controlRequest(controlSocketPath(folderPaths(root).state), root, op, args, { signal: AbortSignal.timeout(60_000) })
}

function mib (bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`
}

function printStatus (s: ReplicaStatus): void {
  const lines = [
    `node      ${s.name} ${s.id} (${s.role}${s.leader === s.id ? ', leader' : ''})`,
    `folder    ${s.folder}`,
    `group     ${s.group} ${s.groupKey}`,
    `voters    ${s.voters.map(v => v === s.leader ? `${v} (leader)` : v).join(', ')}`,
    `learners  ${s.learners.length > 0 ? s.learners.join(', ') : '-'}`,
    `connected ${s.connected.length} peer(s)`,
    `catalog   revision ${s.catalog.revision}: ${s.catalog.files} files, ${mib(s.catalog.bytes)}, ${s.catalog.conflicts} conflict copies`,
    `local     ${s.local.inStep}/${s.local.files} files in step${s.sync.idle ? ', idle' : ', syncing'}`,
    `traffic   sent ${mib(s.exchange.bytesSent)}, received ${mib(s.exchange.bytesReceived)} (blocks: ${s.exchange.blocksServed} served, ${s.exchange.blocksFetched} fetched)`
  ]
  if (s.transfer !== undefined) lines.push(`receiving ${s.transfer.chunks}/${s.transfer.chunksTotal} chunks, ${mib(s.transfer.bytes)} of ${mib(s.transfer.bytesTotal)}`)
  for (const path of s.local.behind) lines.push(`  behind  ${path}`)
  for (const p of s.sync.problems) lines.push(`  problem ${p.path}: ${p.reason}`)
  process.stdout.write(lines.join('\n') + '\n')
}

export function addSyncCommands (program: Command, logger: MakeLogger, int: IntParser): void {
  program.command('init')
    .description('make <folder> a replicated folder: .vpeer/ inside it with this machine\'s identity (mode 0600) and config; files already there are published at the first start')
    .argument('<folder>', 'the folder to replicate (created if missing)')
    .option('--name <name>', 'a name for this machine in vpeer status (default: the host name)')
    .option('--host <ip>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (default: a free one, kept in the config)', int('--port', 1, 65535))
    .action(async (folder: string, o: { name?: string, host: string, port?: number }) => {
      const { identity, paths } = await initFolder(folder, { host: o.host, ...(o.name !== undefined ? { name: o.name } : {}), ...(o.port !== undefined ? { port: o.port } : {}) })
      process.stdout.write([
        `initialized ${paths.root} (node ${identity.id})`,
        'to start a new group here:           vpeer start ' + folder,
        'to join an existing group, run on one of its machines:',
        `  vpeer invite ${identity.id} --folder <its folder>`,
        'then here: vpeer join <invitation> --folder ' + folder + ' && vpeer start ' + folder
      ].join('\n') + '\n')
    })

  program.command('start')
    .description('run the replication node of <folder> until SIGINT/SIGTERM: founds a group if the folder has none, else joins its group (JSON logs on stderr)')
    .argument('[folder]', 'the replicated folder', '.')
    .option('--target-voters <n>', 'voters the group grows to from its learners (odd counts only)', int('--target-voters', 1, 15), 3)
    .option('--rescan-ms <ms>', 'rescan the folder at least this often (a watcher reports changes sooner)', int('--rescan-ms', 100, 86_400_000), 10_000)
    .option('--no-watch', 'no file watcher: changes are found by the periodic rescan only')
    .option('--shape <mbit,ms>', 'emulate a link on the block exchange: rate in Mbit/s and one-way delay in ms (e.g. 3,10)')
    .option('--no-progress', 'no progress bar (the default when stderr is not a terminal)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action(async (folder: string, o: { targetVoters: number, rescanMs: number, watch: boolean, shape?: string, progress: boolean, logLevel: string }) => {
      const root = resolve(folder)
      const config = await readFolderConfig(root)
      const log = logger(o.logLevel, config.name)
      let shaper: { bitsPerSecond: number, delayMs: number } | undefined
      if (o.shape !== undefined) {
        const [rate, delay] = o.shape.split(',').map(Number)
        if (rate === undefined || delay === undefined || !(rate > 0) || !(delay >= 0)) throw new CommanderArgumentError('--shape is <Mbit/s>,<delay ms>, e.g. 3,10')
        shaper = { bitsPerSecond: rate * 1e6, delayMs: delay }
      }
      const bar = o.progress && process.stderr.isTTY ? new SingleBar({ format: 'receiving [{bar}] {percentage}% {value}/{total} MiB', stream: process.stderr, hideCursor: true }) : undefined
      let barActive = false
      const node = await ReplicaNode.start({
        folder: root,
        log,
        targetVoters: o.targetVoters,
        rescanEveryMs: o.rescanMs,
        watch: o.watch,
        ...(shaper !== undefined ? { shaper } : {}),
        onProgress: p => {
          if (bar === undefined) return
          const total = Math.max(1, Math.round(p.bytesTotal / 1048576))
          if (!barActive) { bar.start(total, 0); barActive = true }
          bar.setTotal(total)
          bar.update(Math.round(p.bytes / 1048576))
          if (p.chunks >= p.chunksTotal) { bar.stop(); barActive = false }
        }
      })
      let stopping = false
      const stop = (signal: string): void => {
        if (stopping) return
        stopping = true
        if (barActive) bar?.stop()
        log.info({ signal }, 'stopping')
        void node.stop().then(() => { process.exit(0) }, (error: unknown) => {
          log.error({ err: String(error) }, 'stop failed')
          process.exit(1)
        })
      }
      process.on('SIGTERM', () => { stop('SIGTERM') })
      process.on('SIGINT', () => { stop('SIGINT') })
    })

  program.command('invite')
    .description('add <peer> (the id its vpeer init printed) to the group of --folder, whose node must be running, and print the invitation it joins with')
    .argument('<peer>', 'the invited machine\'s node id')
    .option('--folder <folder>', 'a running member\'s folder', '.')
    .action(async (peer: string, o: { folder: string }) => {
      const { invitation } = await ask(o.folder, 'invite', { peer }) as { invitation: string }
      process.stdout.write(`${invitation}\n`)
      process.stderr.write(`on the invited machine: vpeer join ${invitation.slice(0, 24)}… --folder <its folder>, then vpeer start <its folder>\n`)
    })

  program.command('join')
    .description('make --folder (from vpeer init, never started) a member of the group an invitation names; then vpeer start it')
    .argument('<invitation>', 'what vpeer invite printed')
    .option('--folder <folder>', 'the folder to join with', '.')
    .action(async (invitation: string, o: { folder: string }) => {
      const config = await joinFolder(resolve(o.folder), invitation)
      const id = (await loadOrCreateIdentity(folderPaths(resolve(o.folder)).identity)).id
      process.stdout.write(`${resolve(o.folder)} (node ${id}) joins group ${config.group?.group ?? ''}; start it with: vpeer start ${o.folder}\n`)
    })

  program.command('id')
    .description('print the node id of --folder (what vpeer invite takes)')
    .option('--folder <folder>', 'the replicated folder', '.')
    .action(async (o: { folder: string }) => {
      await readFolderConfig(resolve(o.folder))
      process.stdout.write(`${(await loadOrCreateIdentity(folderPaths(resolve(o.folder)).identity)).id}\n`)
    })

  program.command('status')
    .description('members, leader, catalog, per-file sync state, peers and traffic of the running node of --folder')
    .option('--folder <folder>', 'the replicated folder', '.')
    .option('--json', 'print JSON')
    .action(async (o: { folder: string, json?: boolean }) => {
      const s = await ask(o.folder, 'status') as ReplicaStatus
      if (o.json === true) process.stdout.write(JSON.stringify(s) + '\n')
      else printStatus(s)
    })

  program.command('conflicts')
    .description('the conflict copies in the folder\'s catalog (a concurrent edit kept beside the file it lost to)')
    .option('--folder <folder>', 'the replicated folder', '.')
    .option('--json', 'print JSON')
    .action(async (o: { folder: string, json?: boolean }) => {
      const list = await ask(o.folder, 'conflicts') as CatalogEntry[]
      if (o.json === true) process.stdout.write(JSON.stringify(list) + '\n')
      else process.stdout.write(list.length === 0 ? 'no conflicts\n' : list.map(e => `${e.path}  (${e.size} bytes, from ${e.origin}, ${new Date(e.changedAtMs).toISOString()})`).join('\n') + '\n')
    })

  program.command('revoke')
    .description('take <peer> out of the group of --folder: out of the configuration and off the allow-list (its connections are refused from then on)')
    .argument('<peer>', 'the node id to revoke')
    .option('--folder <folder>', 'a running member\'s folder', '.')
    .action(async (peer: string, o: { folder: string }) => {
      const r = await ask(o.folder, 'revoke', { peer }) as { removed: boolean }
      process.stdout.write(`${peer} revoked${r.removed ? ' and removed from the configuration' : ''}\n`)
    })
}
