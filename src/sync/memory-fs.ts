/**
 * `MemoryFileSystem`: the `FileSystem` contract in memory, with the durability model of a POSIX
 * disk made explicit so tests can crash it and look at what survived.
 *
 * Paths are absolute POSIX paths (`/a/b`), whatever the host. Intermediate symlinks are followed
 * (as the kernel does); the last component is not followed by `stat` (lstat), `openRead`,
 * `openWrite` (O_NOFOLLOW: a symlink there fails with ELOOP), `rename`, `unlink`, `readlink`,
 * and is followed by `readdir`, `mkdir -p` components, `realpath` and `syncDir`. Errors are
 * `Error`s with Node's `code`, `syscall` and `path`.
 *
 * Timestamps come from the injected `now()` (default `Date.now`) and are taken as is: two writes
 * in the same millisecond of a frozen clock give the same mtime and ctime, as two writes within
 * one tick of a coarse file-system clock do. Inode numbers are never reused.
 *
 * Crash model (`crash()`), deliberately the weakest a POSIX disk may be:
 * - a file's content reverts to what it held at its last `sync()` (empty if never synced): bytes
 *   written since, and a truncation by `openWrite` since, are lost;
 * - a directory's entries revert to the name → inode set of its last `syncDir()` (none if never
 *   synced): creations, renames into it, unlinks and rmdirs since are undone, so a file renamed
 *   into a directory that was not synced vanishes under its new name and, if its old directory
 *   was synced, reappears there; a node renamed between two directories of which only the target
 *   was synced appears under both names (a hard link), which the kernel never does but a careful
 *   caller never observes (it syncs both);
 * - a new directory exists after a crash only if its parent was synced, and its entries only if
 *   it was synced itself;
 * - metadata (mode, times) is kept as it was at the crash; inodes unreachable afterwards are gone;
 * - every handle opened before the crash fails with EBADF (the process that held it is dead).
 * The root directory always exists. The test helpers (`writeFileSync`, `mkdirSync`, `symlink`)
 * make what they create durable unless told `{ durable: false }`: they set up the world as it is
 * on disk before the test starts.
 */
import type { DirEntry, EntryKind, FileStat, FileSystem, ReadableFile, WritableFile } from './fs.js'

/** Node-shaped file-system error: `code`, `errno`-free, with `syscall` and `path`. */
export interface FsError extends Error {
  code: string
  syscall: string
  path: string
}

const MESSAGES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many symbolic links encountered',
  EINVAL: 'invalid argument',
  EBUSY: 'resource busy or locked',
  EBADF: 'bad file descriptor',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'i/o error',
  EACCES: 'permission denied'
}

/** An error shaped like the ones `node:fs` throws. */
export function fsError (code: string, syscall: string, path: string): FsError {
  const error = new Error(`${code}: ${MESSAGES[code] ?? 'error'}, ${syscall} '${path}'`) as FsError
  error.code = code
  error.syscall = syscall
  error.path = path
  return error
}

// Linux's limit on symlinks followed while resolving one path.
const SYMLINKS_MAX = 40
const EMPTY = new Uint8Array(0)

interface Meta {
  readonly ino: number
  mode: number
  mtimeMs: number
  ctimeMs: number
}

interface FileNode extends Meta {
  readonly kind: 'file'
  /** Current bytes (page cache): `data[0, size)`; `data` may have spare capacity. */
  data: Uint8Array
  size: number
  /** What a crash reverts to. Never mutated in place: replaced on `sync()`. */
  synced: Uint8Array
}

interface DirNode extends Meta {
  readonly kind: 'directory'
  entries: Map<string, Node>
  /** What a crash reverts to. */
  synced: Map<string, Node>
}

interface LinkNode extends Meta {
  readonly kind: 'symlink'
  readonly target: string
}

type Node = FileNode | DirNode | LinkNode

interface Lookup {
  /** The directory holding the last component (undefined for `/`). */
  readonly parent: DirNode | undefined
  readonly name: string
  /** What is there, undefined if nothing. */
  readonly node: Node | undefined
  /** Canonical path of `node` (or of where it would be), symlinks resolved except a last unfollowed one. */
  readonly canonical: string
}

export interface MemoryFileSystemOptions {
  /** Milliseconds since the epoch for mtime and ctime (default `Date.now`). */
  readonly now?: () => number
}

export interface HelperOptions {
  /** Survives `crash()` (default true). */
  readonly durable?: boolean
  readonly mode?: number
}

export class MemoryFileSystem implements FileSystem {
  private readonly now: () => number
  private nextIno = 1
  private readonly root: DirNode
  /** Bumped by `crash()`: handles of an earlier generation are dead. */
  private generation = 0

  constructor (options: MemoryFileSystemOptions = {}) {
    this.now = options.now ?? Date.now
    this.root = this.newDir(0o755)
  }

  // --- FileSystem ---

  async stat (path: string): Promise<FileStat | undefined> {
    let found: Lookup
    try {
      found = this.lookup(path, false, 'lstat')
    } catch (error) {
      if ((error as FsError).code === 'ENOENT' || (error as FsError).code === 'ENOTDIR') return undefined
      throw error
    }
    return found.node === undefined ? undefined : statOf(found.node)
  }

  async readdir (path: string): Promise<DirEntry[]> {
    const dir = this.existing(path, true, 'scandir')
    if (dir.kind !== 'directory') throw fsError('ENOTDIR', 'scandir', path)
    return [...dir.entries].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([name, node]) => ({ name, kind: node.kind as EntryKind }))
  }

  async mkdir (path: string, options?: { recursive?: boolean }): Promise<void> {
    this.mkdirNow(path, options?.recursive ?? false, 0o755)
  }

  async openRead (path: string): Promise<ReadableFile> {
    const node = this.existing(path, false, 'open')
    if (node.kind === 'symlink') throw fsError('ELOOP', 'open', path)
    // Opening a directory read-only succeeds in Node; reading it fails with EISDIR.
    return new MemoryReadable(this, node, path, this.generation)
  }

  async openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): Promise<WritableFile> {
    const file = this.createFile(path, options?.exclusive ?? false, options?.mode ?? 0o644)
    return new MemoryWritable(this, file, path, this.generation)
  }

  async rename (from: string, to: string): Promise<void> {
    const source = this.lookup(from, false, 'rename')
    if (source.node === undefined || source.parent === undefined) throw fsError(source.node === undefined ? 'ENOENT' : 'EBUSY', 'rename', from)
    const target = this.lookup(to, false, 'rename')
    if (target.parent === undefined) throw fsError('EBUSY', 'rename', to)
    const moving = source.node
    if (target.node === moving) return // POSIX: renaming a file onto itself (or a hard link of it) does nothing
    if (moving.kind === 'directory') {
      if (target.canonical === source.canonical || target.canonical.startsWith(source.canonical + '/')) throw fsError('EINVAL', 'rename', from)
      if (target.node !== undefined) {
        if (target.node.kind !== 'directory') throw fsError('ENOTDIR', 'rename', to)
        if (target.node.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to)
      }
    } else if (target.node?.kind === 'directory') {
      throw fsError('EISDIR', 'rename', to)
    }
    const at = this.now()
    source.parent.entries.delete(source.name)
    target.parent.entries.set(target.name, moving)
    moving.ctimeMs = at
    touch(source.parent, at)
    touch(target.parent, at)
  }

  async unlink (path: string): Promise<void> {
    const found = this.lookup(path, false, 'unlink')
    if (found.node === undefined || found.parent === undefined) throw fsError(found.node === undefined ? 'ENOENT' : 'EISDIR', 'unlink', path)
    if (found.node.kind === 'directory') throw fsError('EISDIR', 'unlink', path)
    found.parent.entries.delete(found.name)
    const at = this.now()
    touch(found.parent, at)
    found.node.ctimeMs = at
  }

  async rmdir (path: string): Promise<void> {
    const found = this.lookup(path, false, 'rmdir')
    if (found.node === undefined) throw fsError('ENOENT', 'rmdir', path)
    if (found.node.kind !== 'directory') throw fsError('ENOTDIR', 'rmdir', path)
    if (found.parent === undefined) throw fsError('EBUSY', 'rmdir', path)
    if (found.node.entries.size > 0) throw fsError('ENOTEMPTY', 'rmdir', path)
    found.parent.entries.delete(found.name)
    touch(found.parent, this.now())
  }

  async rmTree (path: string): Promise<void> {
    let found: Lookup
    try {
      found = this.lookup(path, false, 'rm')
    } catch (error) {
      if ((error as FsError).code === 'ENOENT' || (error as FsError).code === 'ENOTDIR') return
      throw error
    }
    if (found.node === undefined) return
    if (found.parent === undefined) {
      // rm -rf / empties the root, which itself stays.
      this.root.entries.clear()
      touch(this.root, this.now())
      return
    }
    // The tree's nodes stay reachable from the directories' synced entries, so a crash before a
    // syncDir of the parent brings the tree back, as on a disk.
    found.parent.entries.delete(found.name)
    touch(found.parent, this.now())
  }

  async realpath (path: string): Promise<string> {
    return this.existingLookup(path, true, 'realpath').canonical
  }

  async readlink (path: string): Promise<string> {
    const node = this.existing(path, false, 'readlink')
    if (node.kind !== 'symlink') throw fsError('EINVAL', 'readlink', path)
    return node.target
  }

  async utimes (path: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    // No atime is kept; like lutimes, a symlink is changed itself, never followed.
    this.setMtime(path, mtimeMs)
  }

  async syncDir (path: string): Promise<void> {
    const dir = this.existing(path, true, 'open')
    if (dir.kind !== 'directory') throw fsError('ENOTDIR', 'fsync', path)
    dir.synced = new Map(dir.entries)
  }

  // --- Crash ---

  /** Loses everything not made durable (see the module comment) and kills every open handle. */
  crash (): void {
    this.generation++
    const seen = new Set<Node>()
    const revert = (dir: DirNode): void => {
      dir.entries = new Map(dir.synced)
      for (const child of dir.entries.values()) {
        if (seen.has(child)) continue
        seen.add(child)
        if (child.kind === 'file') {
          child.data = child.synced
          child.size = child.synced.length
        } else if (child.kind === 'directory') {
          revert(child)
        }
      }
    }
    revert(this.root)
  }

  // --- Test helpers ---

  /** Creates or replaces (same inode) the file at `path` with `bytes`, creating parents. */
  writeFileSync (path: string, bytes: Uint8Array, options: HelperOptions = {}): void {
    const durable = options.durable ?? true
    const slash = path.lastIndexOf('/')
    if (slash > 0) this.mkdirNow(path.slice(0, slash), true, 0o755, durable)
    const file = this.createFile(path, false, options.mode ?? 0o644)
    if (options.mode !== undefined) file.mode = options.mode & 0o7777
    file.data = bytes.slice()
    file.size = bytes.length
    if (durable) {
      file.synced = file.data
      this.makeEntryDurable(path)
    }
  }

  /** The current content of the file at `path` (a symlink there is refused with ELOOP). */
  readFileSync (path: string): Uint8Array {
    const node = this.existing(path, false, 'open')
    if (node.kind === 'symlink') throw fsError('ELOOP', 'open', path)
    if (node.kind === 'directory') throw fsError('EISDIR', 'read', path)
    return node.data.slice(0, node.size)
  }

  mkdirSync (path: string, options: HelperOptions & { recursive?: boolean } = {}): void {
    this.mkdirNow(path, options.recursive ?? true, options.mode ?? 0o755, options.durable ?? true)
  }

  /** Creates a symlink at `path` pointing to `target` (not resolved: may dangle), creating parents. */
  symlink (target: string, path: string, options: HelperOptions = {}): void {
    const slash = path.lastIndexOf('/')
    if (slash > 0) this.mkdirNow(path.slice(0, slash), true, 0o755, options.durable ?? true)
    const found = this.lookup(path, false, 'symlink')
    if (found.node !== undefined || found.parent === undefined) throw fsError('EEXIST', 'symlink', path)
    const at = this.now()
    found.parent.entries.set(found.name, { kind: 'symlink', target, ino: this.nextIno++, mode: 0o777, mtimeMs: at, ctimeMs: at })
    touch(found.parent, at)
    if (options.durable ?? true) this.makeEntryDurable(path)
  }

  /** Sets the mtime (like utimes); the ctime moves to now, as on a disk. */
  setMtime (path: string, mtimeMs: number): void {
    const node = this.existing(path, false, 'utime')
    node.mtimeMs = mtimeMs
    node.ctimeMs = this.now()
  }

  setMode (path: string, mode: number): void {
    const node = this.existing(path, false, 'chmod')
    node.mode = mode & 0o7777
    node.ctimeMs = this.now()
  }

  // --- Internals (also used by the handles) ---

  /** @internal Throws EBADF if `generation` died in a crash. */
  checkAlive (generation: number, syscall: string, path: string): void {
    if (generation !== this.generation) throw fsError('EBADF', syscall, path)
  }

  /** @internal */
  clock (): number {
    return this.now()
  }

  private newDir (mode: number): DirNode {
    const at = this.now()
    return { kind: 'directory', ino: this.nextIno++, mode, mtimeMs: at, ctimeMs: at, entries: new Map(), synced: new Map() }
  }

  private createFile (path: string, exclusive: boolean, mode: number): FileNode {
    const found = this.lookup(path, false, 'open')
    if (found.parent === undefined) throw fsError('EISDIR', 'open', path)
    const at = this.now()
    if (found.node !== undefined) {
      if (exclusive) throw fsError('EEXIST', 'open', path)
      if (found.node.kind === 'symlink') throw fsError('ELOOP', 'open', path)
      if (found.node.kind === 'directory') throw fsError('EISDIR', 'open', path)
      found.node.data = EMPTY
      found.node.size = 0
      found.node.mtimeMs = at
      found.node.ctimeMs = at
      return found.node
    }
    const file: FileNode = { kind: 'file', ino: this.nextIno++, mode: mode & 0o7777, mtimeMs: at, ctimeMs: at, data: EMPTY, size: 0, synced: EMPTY }
    found.parent.entries.set(found.name, file)
    touch(found.parent, at)
    return file
  }

  private mkdirNow (path: string, recursive: boolean, mode: number, durable = false): void {
    if (!recursive) {
      const found = this.lookup(path, false, 'mkdir')
      if (found.node !== undefined || found.parent === undefined) throw fsError('EEXIST', 'mkdir', path)
      found.parent.entries.set(found.name, this.newDir(mode))
      touch(found.parent, this.now())
      if (durable) this.makeEntryDurable(path)
      return
    }
    const parts = components(path, 'mkdir')
    for (let i = 1; i <= parts.length; i++) {
      const prefix = '/' + parts.slice(0, i).join('/')
      const found = this.lookup(prefix, true, 'mkdir')
      if (found.node === undefined) {
        if (found.parent === undefined) throw fsError('ENOENT', 'mkdir', path)
        found.parent.entries.set(found.name, this.newDir(mode))
        touch(found.parent, this.now())
      } else if (found.node.kind !== 'directory') {
        throw fsError(i === parts.length ? 'EEXIST' : 'ENOTDIR', 'mkdir', path)
      }
      if (durable) this.makeEntryDurable(prefix)
    }
  }

  /** Makes the entry of `path` in its parent survive a crash (and nothing else pending there). */
  private makeEntryDurable (path: string): void {
    const found = this.lookup(path, false, 'fsync')
    if (found.parent !== undefined && found.node !== undefined) found.parent.synced.set(found.name, found.node)
  }

  private existing (path: string, followLast: boolean, syscall: string): Node {
    return this.existingLookup(path, followLast, syscall).node as Node
  }

  private existingLookup (path: string, followLast: boolean, syscall: string): Lookup {
    const found = this.lookup(path, followLast, syscall)
    if (found.node === undefined) throw fsError('ENOENT', syscall, path)
    return found
  }

  /**
   * Resolves `path` component by component, following symlinks in every component but the last
   * (and the last too if `followLast`), handling `..` on the resolved directories, as the kernel
   * does. Throws ENOENT for a missing intermediate, ENOTDIR for a non-directory one, ELOOP.
   */
  private lookup (path: string, followLast: boolean, syscall: string): Lookup {
    const queue = components(path, syscall).reverse() // a stack: the next component is last
    const dirs: DirNode[] = []
    const names: string[] = []
    let current: DirNode = this.root
    let links = 0
    while (queue.length > 0) {
      const name = queue.pop() as string
      if (name === '.') continue
      if (name === '..') {
        if (dirs.length > 0) { current = dirs.pop() as DirNode; names.pop() }
        continue
      }
      const isLast = queue.length === 0
      const child = current.entries.get(name)
      if (child === undefined) {
        if (isLast) return { parent: current, name, node: undefined, canonical: '/' + [...names, name].join('/') }
        throw fsError('ENOENT', syscall, path)
      }
      if (child.kind === 'symlink' && (!isLast || followLast)) {
        if (++links > SYMLINKS_MAX) throw fsError('ELOOP', syscall, path)
        if (child.target.startsWith('/')) { current = this.root; dirs.length = 0; names.length = 0 }
        for (const part of child.target.split('/').filter(p => p !== '').reverse()) queue.push(part)
        if (queue.length === 0) { /* a link to "/" */ return { parent: undefined, name: '', node: this.root, canonical: '/' } }
        continue
      }
      if (isLast) return { parent: current, name, node: child, canonical: '/' + [...names, name].join('/') }
      if (child.kind !== 'directory') throw fsError('ENOTDIR', syscall, path)
      dirs.push(current)
      names.push(name)
      current = child
    }
    // The path ended on a directory reached through `.`, `..` or nothing at all ("/").
    const parent = dirs[dirs.length - 1]
    return { parent, name: names[names.length - 1] ?? '', node: current, canonical: '/' + names.join('/') }
  }
}

function components (path: string, syscall: string): string[] {
  if (!path.startsWith('/')) throw fsError('EINVAL', syscall, path) // relative paths have no meaning here
  return path.split('/').filter(p => p !== '')
}

function touch (dir: DirNode, at: number): void {
  dir.mtimeMs = at
  dir.ctimeMs = at
}

function statOf (node: Node): FileStat {
  const size = node.kind === 'file' ? node.size : node.kind === 'symlink' ? new TextEncoder().encode(node.target).length : 4096
  return { kind: node.kind, size, mode: node.mode, mtimeMs: node.mtimeMs, ctimeMs: node.ctimeMs, ino: node.ino }
}

/** An open file: EBADF once closed, and dead after a crash (the generation it was opened in). */
abstract class MemoryHandle {
  private closed = false
  constructor (protected readonly fs: MemoryFileSystem, protected readonly path: string, private readonly generation: number) {}

  async close (): Promise<void> {
    this.check('close')
    this.closed = true
  }

  protected check (syscall: string): void {
    if (this.closed) throw fsError('EBADF', syscall, this.path)
    this.fs.checkAlive(this.generation, syscall, this.path)
  }
}

class MemoryReadable extends MemoryHandle implements ReadableFile {
  constructor (fs: MemoryFileSystem, private readonly node: FileNode | DirNode, path: string, generation: number) {
    super(fs, path, generation)
  }

  async read (position: number, length: number): Promise<Uint8Array> {
    this.check('read')
    if (this.node.kind === 'directory') throw fsError('EISDIR', 'read', this.path)
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) throw fsError('EINVAL', 'read', this.path)
    const end = Math.min(this.node.size, position + length)
    return position >= end ? new Uint8Array(0) : this.node.data.slice(position, end)
  }
}

class MemoryWritable extends MemoryHandle implements WritableFile {
  private position = 0
  constructor (fs: MemoryFileSystem, private readonly node: FileNode, path: string, generation: number) {
    super(fs, path, generation)
  }

  async write (bytes: Uint8Array): Promise<void> {
    this.check('write')
    const node = this.node
    const end = this.position + bytes.length
    if (end > node.data.length || node.data === node.synced) {
      // Never write into the synced snapshot (a crash reverts to it); grow geometrically.
      const grown = new Uint8Array(Math.max(end, node.data === node.synced ? node.size : node.data.length * 2, 4096))
      grown.set(node.data.subarray(0, node.size))
      node.data = grown
    }
    node.data.set(bytes, this.position)
    this.position = end
    if (end > node.size) node.size = end
    const at = this.fs.clock()
    node.mtimeMs = at
    node.ctimeMs = at
  }

  async sync (): Promise<void> {
    this.check('fsync')
    this.node.synced = this.node.data.slice(0, this.node.size)
  }
}
