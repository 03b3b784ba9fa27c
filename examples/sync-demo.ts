/**
 * `npm run demo [-- --data DIR] [--fresh] [--keep]`: three replication nodes on 127.0.0.1 keep
 * one folder identical — a laptop, a desktop and a work machine, each with its own folder under
 * DIR (default ./data/sync-demo) — and you watch them converge.
 *
 * The laptop founds the group and invites the other two (the same invite/join a person runs with
 * `vpeer invite` and `vpeer join`). Then: the sample files spread; an edit on the desktop reaches
 * the others; the work machine goes offline, the laptop and the work machine edit the same file,
 * and when it comes back both versions survive (the one committed first keeps the name, the other
 * is a conflict copy on every machine). On a terminal the nodes keep running at the end, so you
 * can poke at them with the CLI (`npm run -s vpeer -- status --folder DIR/desktop`, edit files in
 * the folders and watch them spread); Ctrl-C stops them. Elsewhere (`--keep` forces it) they stop.
 */
import '../src/util/polyfills.js'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initFolder, joinFolder, readFolderConfig } from '../src/replica/folder.js'
import { ReplicaNode } from '../src/replica/node.js'

const USAGE = `usage: npm run demo -- [options]

Three replication nodes on 127.0.0.1 (libp2p tcp + noise + yamux, LevelDB, a chunk store each)
keep one folder identical on a laptop, a desktop and a work machine.
  --data DIR    where the three folders live (default ./data/sync-demo; kept between runs)
  --fresh       remove DIR first
  --keep        keep the nodes running at the end until Ctrl-C (default: only on a terminal)
  --help        this text
Exit codes: 0 every check passed, 1 a check failed, 2 bad options`

const HOSTS = ['laptop', 'desktop', 'work'] as const
type Host = typeof HOSTS[number]

const out = (line: string): void => { process.stdout.write(`${line}\n`) }

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

/** Every regular file under `folder` (not `.vpeer*`), path → content. */
async function listing (folder: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>()
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.vpeer')) continue
      const path = join(dir, e.name)
      if (e.isDirectory()) await walk(path)
      else if (e.isFile()) files.set(relative(folder, path), await readFile(path))
    }
  }
  await walk(folder)
  return files
}

function same (a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false
  for (const [path, bytes] of a) if (!(b.get(path)?.equals(bytes) ?? false)) return false
  return true
}

async function sampleFiles (laptop: string, desktop: string): Promise<void> {
  await mkdir(join(laptop, 'photos'), { recursive: true })
  await mkdir(join(laptop, 'notes'), { recursive: true })
  await writeFile(join(laptop, 'notes', 'todo.txt'), '- water the plants\n- back up the photos\n')
  await writeFile(join(laptop, 'notes', 'ideas.md'), '# Ideas\n\nA folder that is the same on every machine, with no server.\n')
  for (let i = 1; i <= 3; i++) await writeFile(join(laptop, 'photos', `holiday-${i}.jpg`), randomBytes(2 * 1024 * 1024))
  await writeFile(join(desktop, 'budget.csv'), 'month,rent,food\njan,900,310\nfeb,900,295\n')
}

async function main (): Promise<number> {
  let args
  try {
    args = parseArgs({ options: { data: { type: 'string' }, fresh: { type: 'boolean' }, keep: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true })
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (args.values.help === true) { out(USAGE); return 0 }
  const dir = resolve(args.values.data ?? 'data/sync-demo')
  if (args.values.fresh === true) await rm(dir, { recursive: true, force: true })
  const folders = Object.fromEntries(HOSTS.map(h => [h, join(dir, h)])) as Record<Host, string>
  const nodes = new Map<Host, ReplicaNode>()
  const start = async (host: Host): Promise<ReplicaNode> => {
    const node = await ReplicaNode.start({ folder: folders[host], rescanEveryMs: 2000 })
    nodes.set(host, node)
    return node
  }
  const stopAll = async (): Promise<void> => {
    for (const [host, node] of nodes) { await node.stop(); nodes.delete(host) }
  }

  /** Prints a progress line a second until every running node has the laptop's files. */
  const converge = async (what: string, hosts: readonly Host[], timeoutMs = 120_000): Promise<number> => {
    const started = performance.now()
    let lastPrint = 0
    for (;;) {
      const reference = await listing(folders.laptop)
      const listings = await Promise.all(hosts.map(async h => await listing(folders[h])))
      const idle = hosts.every(h => nodes.get(h)?.status().sync.idle ?? true)
      if (idle && listings.every(l => same(l, reference))) {
        const ms = performance.now() - started
        out(`  ✓ ${what}: ${(ms / 1000).toFixed(1)} s`)
        return ms
      }
      if (performance.now() - started > timeoutMs) throw new Error(`${what}: not converged after ${timeoutMs / 1000} s`)
      if (performance.now() - lastPrint >= 1000) {
        lastPrint = performance.now()
        out('    ' + hosts.map(h => {
          const s = nodes.get(h)?.status()
          return s === undefined ? `${h}: offline` : `${h}: ${s.local.inStep}/${s.catalog.files} files, ${(s.exchange.bytesReceived / 1048576).toFixed(1)} MiB in`
        }).join(' | '))
      }
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }

  try {
    const firstRun = !(await exists(join(folders.laptop, '.vpeer', 'config.json')))
    if (firstRun) {
      out(`three machines under ${dir}`)
      for (const h of HOSTS) await initFolder(folders[h], { name: h })
      await sampleFiles(folders.laptop, folders.desktop)
      out('  laptop has notes/ and photos/ (6 MiB); desktop has budget.csv; work is empty')
      const laptop = await start('laptop')
      out(`  laptop founded the group (node ${laptop.id.slice(-8)}) and invites the other two`)
      for (const h of ['desktop', 'work'] as const) {
        const config = await readFolderConfig(folders[h])
        const { loadOrCreateIdentity } = await import('../src/alm/identity.js')
        const id = (await loadOrCreateIdentity(join(folders[h], '.vpeer', 'identity.key'))).id
        await joinFolder(folders[h], await laptop.invite(id))
        out(`  ${config.name} (${id.slice(-8)}) joined with its invitation`)
      }
      await start('desktop')
      await start('work')
    } else {
      out(`three machines under ${dir} (from an earlier run; --fresh starts over)`)
      for (const h of HOSTS) await start(h)
    }
    await converge('every machine has every file', HOSTS)

    const stamp = new Date().toISOString()
    await writeFile(join(folders.desktop, 'notes', 'todo.txt'), `- water the plants\n- back up the photos\n- call the plumber (added on the desktop, ${stamp})\n`)
    await converge('an edit on the desktop reached the others', HOSTS)

    out('  the work machine goes offline; the laptop and the work machine both edit notes/ideas.md')
    await (nodes.get('work') as ReplicaNode).stop()
    nodes.delete('work')
    await writeFile(join(folders.laptop, 'notes', 'ideas.md'), `# Ideas\n\nEdited on the laptop (${stamp}).\n`)
    await converge('the laptop\'s edit reached the desktop', ['laptop', 'desktop'])
    await writeFile(join(folders.work, 'notes', 'ideas.md'), `# Ideas\n\nEdited on the work machine, offline (${stamp}).\n`)
    await start('work')
    await converge('the work machine is back and in step', HOSTS)
    const conflicts = []
    for (const c of (nodes.get('laptop') as ReplicaNode).conflicts()) {
      const text = await readFile(join(folders.desktop, c.path), 'utf8')
      if (text.includes(stamp)) conflicts.push(c.path)
    }
    for (const path of conflicts) out(`  both versions kept: notes/ideas.md (the laptop's) and ${path} (the work machine's), on every machine`)
    if (conflicts.length !== 1) throw new Error(`expected one new conflict copy of notes/ideas.md, found ${conflicts.length}`)

    const s = (nodes.get('desktop') as ReplicaNode).status()
    out(`  group: ${s.voters.length} voters, leader ${s.leader?.slice(-8) ?? '-'}; catalog revision ${s.catalog.revision}, ${s.catalog.files} files`)
    const keep = args.values.keep ?? process.stdout.isTTY
    if (keep) {
      out('')
      out('the three nodes keep running; in another terminal try:')
      out(`  npm run -s vpeer -- status --folder ${relative(process.cwd(), folders.desktop)}`)
      out(`  npm run -s vpeer -- conflicts --folder ${relative(process.cwd(), folders.work)}`)
      out(`  echo hello > ${relative(process.cwd(), folders.work)}/hello.txt   (then look in the other folders)`)
      out('Ctrl-C stops them (the folders stay; the next run continues from them)')
      await new Promise<void>(resolve => {
        process.once('SIGINT', () => { resolve() })
        process.once('SIGTERM', () => { resolve() })
      })
    }
    return 0
  } catch (error) {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`)
    return 1
  } finally {
    await stopAll()
    out('stopped')
  }
}

process.exitCode = await main()
