/**
 * Real member processes on 127.0.0.1 for tests, the chaos run and bench:net: a cluster folder
 * made by `initCluster` in a temporary directory, one `vpeer node` child process per member or
 * spare, and the signals a chaos run sends them (SIGKILL, SIGTERM, SIGSTOP/SIGCONT). Every child
 * is killed by its own PID on `close()`, and the folder is removed.
 *
 * The children run the TypeScript sources through tsx (cli-process.ts), so a test exercises the
 * code under test, not a stale build.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readIdentity } from '../src/alm/identity.js'
import type { Identity } from '../src/alm/identity.js'
import { VirtualPeerClient } from '../src/net/client.js'
import type { VirtualPeerClientOptions } from '../src/net/client.js'
import { dialAddresses, readClusterSpec } from '../src/net/cluster-spec.js'
import { initCluster } from '../src/net/init.js'
import type { InitResult } from '../src/net/init.js'
import { signalAndWait, startCliProcess } from './cli-process.js'
import type { LogLine } from './cli-process.js'

export type { LogLine } from './cli-process.js'

export interface NodeProcess {
  readonly name: string
  readonly id: string
  readonly dir: string
  readonly role: 'voter' | 'spare'
  child: ChildProcess | undefined
  /** Every JSON log line of every incarnation, in order. */
  readonly logs: LogLine[]
  /** stderr of every incarnation (crash reports). */
  stderr: string
  paused: boolean
}

export interface ProcessClusterOptions {
  readonly members?: number
  readonly spares?: number
  /** Extra flags for every `vpeer node` (e.g. ['--log-level', 'debug']). */
  readonly nodeArgs?: readonly string[]
  readonly parentDir?: string
  /**
   * Use this folder instead of a temporary one: a cluster already there (its cluster.json) is
   * reused, otherwise one is created. The folder is kept on `close()`.
   */
  readonly dir?: string
}

export class ProcessCluster {
  readonly dir: string
  readonly init: InitResult
  readonly nodes: NodeProcess[]
  private readonly nodeArgs: readonly string[]
  private readonly keep: boolean
  private closed = false

  private constructor (dir: string, init: InitResult, nodeArgs: readonly string[], keep: boolean) {
    this.dir = dir
    this.init = init
    this.nodeArgs = nodeArgs
    this.keep = keep
    this.nodes = init.nodes.map(n => ({ ...n, child: undefined, logs: [], stderr: '', paused: false }))
  }

  static async create (options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    if (options.dir !== undefined) {
      const dir = options.dir
      const clusterFile = join(dir, 'cluster.json')
      const existing = await stat(clusterFile).then(() => true, () => false)
      const init = existing ? await reopen(dir) : await initCluster({ dir, members: options.members ?? 3, spares: options.spares ?? 0 })
      return new ProcessCluster(dir, init, options.nodeArgs ?? [], true)
    }
    const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'vpeer-cluster-'))
    try {
      const init = await initCluster({ dir, members: options.members ?? 3, spares: options.spares ?? 0 })
      return new ProcessCluster(dir, init, options.nodeArgs ?? [], false)
    } catch (error) {
      await rm(dir, { recursive: true, force: true })
      throw error
    }
  }

  node (nameOrId: string): NodeProcess {
    const n = this.nodes.find(x => x.name === nameOrId || x.id === nameOrId)
    if (n === undefined) throw new Error(`no node ${nameOrId}`)
    return n
  }

  /** Member addresses with /p2p/, for clients. */
  get memberAddresses (): string[] {
    const spec = this.init.spec
    return [...spec.voters, ...spec.spares].flatMap(id => dialAddresses(spec, id))
  }

  /** Starts (or restarts) a node process; resolves once it logged 'member started'. */
  async start (name: string, options: { timeoutMs?: number } = {}): Promise<NodeProcess> {
    const n = this.node(name)
    if (n.child !== undefined) throw new Error(`${name} is running`)
    n.paused = false
    await startCliProcess(n, ['node', '--dir', n.dir, '--cluster', this.init.clusterFile, ...this.nodeArgs], { name, startedMsg: 'member started', timeoutMs: options.timeoutMs })
    return n
  }

  async startAll (filter: (n: NodeProcess) => boolean = n => n.role === 'voter'): Promise<void> {
    await Promise.all(this.nodes.filter(filter).map(async n => await this.start(n.name)))
  }

  /** Sends `signal`; for SIGKILL and SIGTERM waits until the process has exited. */
  async signal (name: string, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const n = this.node(name)
    const child = n.child
    if (child === undefined || child.pid === undefined) return
    if (signal === 'SIGSTOP') { n.paused = true; process.kill(child.pid, signal); return }
    if (signal === 'SIGCONT') { n.paused = false; process.kill(child.pid, signal); return }
    if (n.paused) { process.kill(child.pid, 'SIGCONT'); n.paused = false }
    await signalAndWait(child, signal)
  }

  async kill (name: string): Promise<void> { await this.signal(name, 'SIGKILL') }

  running (name: string): boolean {
    return this.node(name).child !== undefined
  }

  async adminIdentity (): Promise<Identity> {
    return await readIdentity(this.init.adminKey)
  }

  /** A client with the administrator's identity (or the one given). */
  async client<C, R, Q, A> (options: Partial<VirtualPeerClientOptions<C, R, Q, A>> = {}): Promise<VirtualPeerClient<C, R, Q, A>> {
    return await VirtualPeerClient.create<C, R, Q, A>({
      members: this.memberAddresses,
      identity: options.identity ?? await this.adminIdentity(),
      ...options
    })
  }

  /** Log lines of `name` whose message contains `text`. */
  logsOf (name: string, text: string): LogLine[] {
    return this.node(name).logs.filter(l => l.msg.includes(text))
  }

  /** Kills every process by its PID and removes the folder. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(this.nodes.map(async n => { await this.signal(n.name, 'SIGKILL') }))
    if (!this.keep) await rm(this.dir, { recursive: true, force: true })
  }
}

/** The InitResult of a cluster folder made earlier by `initCluster`. */
async function reopen (dir: string): Promise<InitResult> {
  const clusterFile = join(dir, 'cluster.json')
  const spec = await readClusterSpec(clusterFile)
  const nodes: Array<InitResult['nodes'][number]> = []
  for (const name of (await readdir(dir)).filter(n => /^[ms]\d+$/.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const id = (await readIdentity(join(dir, name, 'identity.key'))).id
    const role = spec.voters.includes(id) ? 'voter' : spec.spares.includes(id) ? 'spare' : undefined
    if (role !== undefined) nodes.push({ name, id, dir: join(dir, name), role })
  }
  return { spec, clusterFile, adminKey: join(dir, 'admin.key'), nodes }
}
