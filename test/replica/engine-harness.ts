/**
 * Sync engines of several hosts without a network: one shared log stands in for the VP (each
 * host's catalog replica applies it in order when the host is online), chunks move by copying
 * between online hosts' stores. Each host has its own in-memory file system, so the tests can
 * edit, delete, rename and inject faults, and run passes in any order they like.
 */
import type { ApplyContext } from '../../src/contracts/index.js'
import { SyncEngine } from '../../src/replica/sync-engine.js'
import { CatalogStateMachine } from '../../src/sync/catalog.js'
import type { CatalogCommand, CatalogResult } from '../../src/sync/catalog-types.js'
import { chunkIdOf } from '../../src/sync/chunk.js'
import type { ChunkRef } from '../../src/sync/chunk.js'
import { ChunksUnavailableError } from '../../src/replica/exchange.js'
import type { FileSystem } from '../../src/sync/fs.js'
import { LocalIndex } from '../../src/sync/local-index.js'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import { scanFolder } from '../../src/sync/scanner.js'
import { MemoryChunkStore } from '../../src/sync/chunk-store.js'

export const ROOT = '/folder'
const enc = new TextEncoder()
const dec = new TextDecoder()

interface LogEntry { readonly command: CatalogCommand, readonly client: string, readonly seq: number, readonly atMs: number }

export class SharedLog {
  readonly entries: LogEntry[] = []
  clock = Date.UTC(2026, 10, 30, 12, 0, 0)
}

export class Host {
  readonly mem: MemoryFileSystem
  fs: FileSystem
  readonly store = new MemoryChunkStore()
  readonly catalog = new CatalogStateMachine()
  engine!: SyncEngine
  index!: LocalIndex
  online = true
  applied = 0
  private seq = 0
  /** Called in the middle of every fetch (tests edit files "during a download"). */
  duringFetch: (() => void) | undefined

  constructor (readonly name: string, private readonly log: SharedLog, private readonly peers: () => Host[]) {
    this.mem = new MemoryFileSystem({ now: () => this.log.clock })
    this.mem.mkdirSync(ROOT, { recursive: true })
    this.mem.mkdirSync('/state', { recursive: true })
    this.fs = this.mem
  }

  async start (): Promise<void> {
    this.index = await LocalIndex.open(this.mem, '/state')
    this.catchUp()
    const catalog = this.catalog
    this.engine = new SyncEngine({
      fs: this.fs,
      root: ROOT,
      store: this.store,
      index: this.index,
      catalog: {
        get revision () { return catalog.revision },
        get: path => this.catalog.get(path),
        entries: () => this.catalog.entries({ deleted: true }),
        onChange: listener => this.catalog.onChange(c => { listener(c.kind === 'apply' ? c.paths : undefined) })
      },
      scan: async signal => await scanFolder({ fs: this.fs, root: ROOT, index: this.index, signal, chunkFile: async abs => await this.chunkFile(abs), now: () => this.log.clock + 60_000 }),
      submit: async command => this.submit(command),
      fetch: async chunks => { await this.fetch(chunks) },
      origin: `peer-${this.name}`,
      rescanEveryMs: 3_600_000
    })
    this.engine.start()
  }

  /** Applies the log entries this replica has not applied yet. */
  catchUp (): void {
    while (this.applied < this.log.entries.length) {
      const e = this.log.entries[this.applied] as LogEntry
      this.applied++
      this.catalog.apply(e.command, this.ctx(e))
    }
  }

  private ctx (e: LogEntry): ApplyContext {
    return { slot: this.applied, offset: 0, client: e.client, seq: e.seq, proposedAtMs: e.atMs, send: () => { throw new Error('no outputs') } } as unknown as ApplyContext
  }

  /** Appends to the log (the host must be online, as a submit needs the group) and applies it here. */
  private submit (command: CatalogCommand): CatalogResult {
    if (!this.online) throw new Error(`${this.name} is offline`)
    this.catchUp()
    const entry = { command, client: this.name, seq: ++this.seq, atMs: this.log.clock++ }
    this.log.entries.push(entry)
    this.applied++
    return this.catalog.apply(command, this.ctx(entry))
  }

  private async chunkFile (abs: string): Promise<{ chunks: ChunkRef[], size: number }> {
    const bytes = this.mem.readFileSync(abs)
    const chunks: ChunkRef[] = []
    for (let at = 0; at < bytes.length; at += 4) {
      const piece = bytes.slice(at, at + 4)
      const id = chunkIdOf(piece)
      await this.store.put(id, piece)
      chunks.push({ id, size: piece.length })
    }
    return { chunks, size: bytes.length }
  }

  private async fetch (chunks: readonly ChunkRef[]): Promise<void> {
    this.duringFetch?.()
    const missing: string[] = []
    for (const c of chunks) {
      let from: Host | undefined
      for (const h of this.peers()) {
        if (h !== this && h.online && await h.store.has(c.id)) { from = h; break }
      }
      if (from === undefined) missing.push(c.id)
      else await this.store.put(c.id, await from.store.get(c.id))
    }
    if (missing.length > 0) throw new ChunksUnavailableError(missing, 'no online host has them')
  }

  /** Installs `from`'s catalog as a snapshot (what a far-behind member receives), skipping the log. */
  installSnapshotOf (from: Host): void {
    this.catalog.restore(from.catalog.snapshot())
    this.applied = from.applied
  }

  /** Catches up with the log and runs one complete pass. */
  async pass (): Promise<void> {
    this.catchUp()
    await this.engine.settle()
    this.catchUp()
  }

  write (path: string, text: string): void {
    const abs = `${ROOT}/${path}`
    this.mem.mkdirSync(abs.slice(0, abs.lastIndexOf('/')), { recursive: true })
    this.mem.writeFileSync(abs, enc.encode(text))
  }

  read (path: string): string | undefined {
    try {
      return dec.decode(this.mem.readFileSync(`${ROOT}/${path}`))
    } catch {
      return undefined
    }
  }

  /** Every regular file under the folder, path → text. */
  async files (): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const e of await this.mem.readdir(dir)) {
        const relPath = rel === '' ? e.name : `${rel}/${e.name}`
        if (e.kind === 'directory') await walk(`${dir}/${e.name}`, relPath)
        else if (e.kind === 'file') out[relPath] = dec.decode(this.mem.readFileSync(`${dir}/${e.name}`))
      }
    }
    await walk(ROOT, '')
    return out
  }

  async stop (): Promise<void> {
    await this.engine.stop()
    await this.index.close()
  }
}

export async function hosts (names: string[]): Promise<{ log: SharedLog, hosts: Host[] }> {
  const log = new SharedLog()
  const list: Host[] = []
  for (const n of names) list.push(new Host(n, log, () => list))
  return { log, hosts: list }
}

/** Passes on every online host until none changes anything (at most `rounds`). */
export async function converge (list: Host[], rounds = 6): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    for (const h of list) if (h.online) await h.pass()
  }
}
