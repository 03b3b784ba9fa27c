/**
 * Real replication nodes on 127.0.0.1, one `vpeer start <folder>` child process per host, for the
 * process tests of folder replication and `bench:sync`: hosts (C1…Cn by default) each with their
 * own replicated folder in a temporary parent directory, `vpeer init`ed at creation. One host
 * founds the group, the others join through invitations a running member hands out on its
 * control socket, and each host is started, stopped (SIGTERM), killed (SIGKILL) and restarted at
 * will: computers that are online at different times.
 *
 * The children run the TypeScript sources through tsx (cli-process.ts), so a test exercises the
 * code under test, not a stale build. Their JSON log lines (pino, stdout) are kept per host;
 * every child is killed by its own PID on `close()`, and the temporary directory is removed.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { loadOrCreateIdentity } from '../src/alm/identity.js'
import { controlRequest, controlSocketPath } from '../src/replica/control.js'
import { folderPaths, initFolder, joinFolder, readFolderConfig } from '../src/replica/folder.js'
import type { ReplicaStatus } from '../src/replica/node.js'
import type { CatalogEntry } from '../src/sync/catalog-types.js'
import { CLI, signalAndWait, startCliProcess } from './cli-process.js'
import type { LogLine } from './cli-process.js'

export type { LogLine } from './cli-process.js'

/** Files up to this size are reported by content by `files()`; larger ones by their sha256. */
export const CONTENT_BYTES_MAX = 1024

export interface ReplicaHost {
  readonly name: string
  /** The replicated folder (absolute). */
  readonly folder: string
  /** The node's peer id. */
  readonly id: string
  child: ChildProcess | undefined
  /** Every JSON log line of every incarnation, in order. */
  readonly logs: LogLine[]
  /** stderr (and non-JSON stdout) of every incarnation: crash reports. */
  stderr: string
  /** Exit code or signal of every incarnation that ended, in order. */
  readonly exits: Array<number | string>
}

export interface ReplicaHostsOptions {
  /** Number of hosts (named C1…Cn) or their names. Default 3. */
  readonly hosts?: number | readonly string[]
  /** Where the temporary directory is made (default the OS's). */
  readonly parentDir?: string
  /**
   * Use this directory instead of a temporary one: hosts already initialized there (their
   * `.vpeer/config.json`) are reused, the others are initialized. Kept on `close()`.
   */
  readonly dir?: string
  /** `--rescan-ms` of every `vpeer start` (default 500: tests should not wait for a rescan). */
  readonly rescanMs?: number
  /** Extra flags for every `vpeer start` (e.g. ['--shape', '3,10']); `start`'s own come after. */
  readonly startArgs?: readonly string[]
  /** How long `start` waits for 'replication node started', ms (default 30 s). */
  readonly startTimeoutMs?: number
}

export interface ConvergedOptions {
  /** Give up after this long, ms (default 60 s: process tests run on loaded 2-core machines). */
  readonly timeoutMs?: number
  /** Poll period, ms (default 200). */
  readonly pollMs?: number
}

/** `path → content` (files up to CONTENT_BYTES_MAX, UTF-8) or `path → sha256:<hex>`. */
export type FileMap = Record<string, string>

export class ReplicaHosts {
  readonly dir: string
  readonly hosts: ReplicaHost[]
  private readonly options: ReplicaHostsOptions
  private readonly keep: boolean
  private closed = false

  private constructor (dir: string, hosts: ReplicaHost[], options: ReplicaHostsOptions, keep: boolean) {
    this.dir = dir
    this.hosts = hosts
    this.options = options
    this.keep = keep
  }

  static async create (options: ReplicaHostsOptions = {}): Promise<ReplicaHosts> {
    const spec = options.hosts ?? 3
    const names = typeof spec === 'number' ? Array.from({ length: spec }, (_, i) => `C${i + 1}`) : [...spec]
    if (names.length === 0 || new Set(names).size !== names.length || names.some(n => !/^[\w.@-]{1,64}$/.test(n))) {
      throw new Error(`host names must be distinct, non-empty, [A-Za-z0-9_.@-]: ${JSON.stringify(names)}`)
    }
    const keep = options.dir !== undefined
    const dir = options.dir !== undefined ? resolve(options.dir) : await mkdtemp(join(options.parentDir ?? tmpdir(), 'vpeer-hosts-'))
    try {
      await mkdir(dir, { recursive: true })
      const hosts: ReplicaHost[] = []
      for (const name of names) {
        const folder = join(dir, name)
        const existing = await readFolderConfig(folder).then(() => true, () => false)
        const id = existing
          ? (await loadOrCreateIdentity(folderPaths(folder).identity)).id
          : (await initFolder(folder, { name })).identity.id
        hosts.push({ name, folder, id, child: undefined, logs: [], stderr: '', exits: [] })
      }
      return new ReplicaHosts(dir, hosts, options, keep)
    } catch (error) {
      if (!keep) await rm(dir, { recursive: true, force: true })
      throw error
    }
  }

  host (nameOrId: string): ReplicaHost {
    const h = this.hosts.find(x => x.name === nameOrId || x.id === nameOrId)
    if (h === undefined) throw new Error(`no host ${nameOrId}`)
    return h
  }

  get names (): string[] {
    return this.hosts.map(h => h.name)
  }

  running (name: string): boolean {
    return this.host(name).child !== undefined
  }

  /** Starts `name` on a folder without a group: it founds one with itself as the only voter. */
  async found (name: string, extraArgs: readonly string[] = []): Promise<ReplicaHost> {
    const config = await readFolderConfig(this.host(name).folder)
    if (config.group !== undefined) throw new Error(`${name} belongs to a group already`)
    return await this.start(name, extraArgs)
  }

  /**
   * `vpeer invite <joiner> --folder <member>` on the running `member`, then
   * `vpeer join <invitation> --folder <joiner>`. The joiner is not started.
   */
  async invite (member: string, joiner: string): Promise<string> {
    const j = this.host(joiner)
    const { invitation } = await this.request(member, 'invite', { peer: j.id }) as { invitation: string }
    await joinFolder(j.folder, invitation)
    return invitation
  }

  /**
   * Starts (or restarts) `vpeer start <folder> --rescan-ms <ms>` for `name`; resolves once it
   * logged 'replication node started'. `extraArgs` come last (so `--rescan-ms` there wins).
   */
  async start (name: string, extraArgs: readonly string[] = []): Promise<ReplicaHost> {
    const h = this.host(name)
    if (h.child !== undefined) throw new Error(`${name} is running`)
    const args = [
      'start', h.folder, '--no-progress',
      '--rescan-ms', String(this.options.rescanMs ?? 500),
      ...(this.options.startArgs ?? []),
      ...extraArgs
    ]
    await startCliProcess(h, args, { name, startedMsg: 'replication node started', timeoutMs: this.options.startTimeoutMs })
    return h
  }

  /** Stops `name` gracefully (SIGTERM) and waits for its exit. */
  async stop (name: string): Promise<void> { await this.signal(name, 'SIGTERM') }

  /** Kills `name` (SIGKILL: no cleanup, a crash) and waits for its exit. */
  async kill (name: string): Promise<void> { await this.signal(name, 'SIGKILL') }

  private async signal (name: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.host(name).child
    if (child !== undefined) await signalAndWait(child, signal)
  }

  /** A request on `name`'s control socket (op: status, conflicts, invite, revoke). */
  async request (name: string, op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
    const h = this.host(name)
    return await controlRequest(controlSocketPath(folderPaths(h.folder).state), h.folder, op, args, { signal: AbortSignal.timeout(timeoutMs) })
  }

  async status (name: string): Promise<ReplicaStatus> {
    return await this.request(name, 'status', {}, 10_000) as ReplicaStatus
  }

  async conflicts (name: string): Promise<CatalogEntry[]> {
    return await this.request(name, 'conflicts', {}, 10_000) as CatalogEntry[]
  }

  /** `vpeer revoke <peer> --folder <member's folder>` through `member`'s control socket. */
  async revoke (member: string, peer: string): Promise<{ removed: boolean }> {
    return await this.request(member, 'revoke', { peer: this.host(peer).id }) as { removed: boolean }
  }

  /** Runs a one-shot `vpeer …` command (e.g. `conflicts --folder F --json`) and collects its output. */
  async cli (args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t })
    child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t })
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL') }, timeoutMs)
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject)
        child.once('exit', code => { resolve(code) })
      })
      return { code, stdout, stderr }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Every regular file in `name`'s folder but the node's own (`.vpeer*`: its state directory and
   * landing's temporaries), path (with '/') → content or `sha256:<hex>`. Reads the disk only, so
   * it works whether or not the host is running.
   */
  async files (name: string, options: { includeTemporaries?: boolean } = {}): Promise<FileMap> {
    const root = this.host(name).folder
    const out: FileMap = {}
    const walk = async (rel: string): Promise<void> => {
      let entries
      try {
        entries = await readdir(join(root, rel), { withFileTypes: true })
      } catch (error) {
        // A directory removed by the node between the listing and the read.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
        throw error
      }
      for (const e of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
        const path = rel === '' ? e.name : `${rel}/${e.name}`
        if (e.name.startsWith('.vpeer') && !(options.includeTemporaries === true && e.name.startsWith('.vpeer-tmp-'))) continue
        if (e.isDirectory()) await walk(path)
        else if (e.isFile()) {
          let bytes: Buffer
          try {
            bytes = await readFile(join(root, path))
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
            throw error
          }
          out[path] = describe(bytes)
        }
      }
    }
    await walk('')
    return out
  }

  /**
   * Waits until every named host is running, reports its sync engine idle with every catalog
   * file in step locally, all at the same catalog revision, and all hold the same files. Resolves
   * with those files; on timeout rejects with what each host had.
   */
  async waitConverged (names: readonly string[] = this.names, options: ConvergedOptions = {}): Promise<FileMap> {
    const timeoutMs = options.timeoutMs ?? 60_000
    const deadline = Date.now() + timeoutMs
    let last = ''
    for (;;) {
      const why = await this.divergence(names)
      if (typeof why !== 'string') return why
      last = why
      if (Date.now() > deadline) throw new Error(`hosts ${names.join(', ')} did not converge within ${timeoutMs} ms: ${last}`)
      await sleep(options.pollMs ?? 200)
    }
  }

  /** The common files if `names` have converged, else why not. */
  private async divergence (names: readonly string[]): Promise<FileMap | string> {
    const statuses: Array<[string, ReplicaStatus]> = []
    for (const name of names) {
      if (!this.running(name)) return `${name} is not running`
      try {
        statuses.push([name, await this.status(name)])
      } catch (error) {
        return `${name}: status failed: ${(error as Error).message}`
      }
    }
    const revisions = new Set(statuses.map(([, s]) => s.catalog.revision))
    const busy = statuses.filter(([, s]) => !s.sync.idle || s.local.inStep !== s.local.files)
    if (busy.length > 0 || revisions.size > 1) {
      return statuses.map(([n, s]) => `${n}: revision ${s.catalog.revision}, ${s.local.inStep}/${s.local.files} in step, ${s.sync.idle ? 'idle' : 'syncing'}` +
        `${s.local.behind.length > 0 ? ` behind ${s.local.behind.slice(0, 5).join(',')}` : ''}${s.sync.problems.length > 0 ? ` problems ${JSON.stringify(s.sync.problems.slice(0, 3))}` : ''}`).join('; ')
    }
    const maps = await Promise.all(names.map(async n => await this.files(n)))
    const first = JSON.stringify(maps[0])
    const differing = names.filter((_, i) => JSON.stringify(maps[i]) !== first)
    if (differing.length > 0) return `files differ: ${names.map((n, i) => `${n} ${JSON.stringify(Object.keys(maps[i] as FileMap))}`).join('; ')}`
    return maps[0] as FileMap
  }

  /** Writes `data` to `rel` in `name`'s folder (parent directories made). */
  async writeFile (name: string, rel: string, data: string | Uint8Array): Promise<void> {
    const abs = this.pathOf(name, rel)
    await mkdir(dirname(abs), { recursive: true })
    await writeFile(abs, data)
  }

  async appendFile (name: string, rel: string, data: string | Uint8Array): Promise<void> {
    await appendFile(this.pathOf(name, rel), data)
  }

  async readFile (name: string, rel: string): Promise<Buffer> {
    return await readFile(this.pathOf(name, rel))
  }

  async exists (name: string, rel: string): Promise<boolean> {
    return await stat(this.pathOf(name, rel)).then(() => true, () => false)
  }

  async rm (name: string, rel: string): Promise<void> {
    await rm(this.pathOf(name, rel), { recursive: true })
  }

  async rename (name: string, from: string, to: string): Promise<void> {
    const target = this.pathOf(name, to)
    await mkdir(dirname(target), { recursive: true })
    await rename(this.pathOf(name, from), target)
  }

  /** The absolute path of `rel` in `name`'s folder; refuses to leave it or touch `.vpeer/`. */
  pathOf (name: string, rel: string): string {
    const root = this.host(name).folder
    const abs = resolve(root, rel)
    if (!abs.startsWith(root + '/') || abs.slice(root.length + 1).startsWith('.vpeer/')) throw new Error(`${rel} is not a file of the replicated folder`)
    return abs
  }

  /** Log lines of `name` whose message contains `text`. */
  logsOf (name: string, text: string): LogLine[] {
    return this.host(name).logs.filter(l => l.msg.includes(text))
  }

  /** Kills every child by its PID and removes the temporary directory. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(this.hosts.map(async h => { await this.kill(h.name) }))
    if (!this.keep) await rm(this.dir, { recursive: true, force: true })
  }
}

/** How `files()` reports a file's bytes. */
export function describe (bytes: Uint8Array): string {
  if (bytes.length <= CONTENT_BYTES_MAX) {
    const text = Buffer.from(bytes).toString('utf8')
    if (Buffer.byteLength(text) === bytes.length && !text.startsWith('sha256:')) return text
  }
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
