/**
 * From a catalog path (which a remote peer chose) to a place on this disk, without ever leaving
 * the folder. The catalog rejects bad syntax at apply; this checks again before anything is
 * written (a node must not trust its replica's code path alone) and adds what only the local disk
 * knows: a symlink or a file where the path needs a directory.
 *
 * What this cannot close: a local process that swaps a checked directory for a symlink between
 * the check and the use (no `openat` in the FileSystem contract). The adversary this guards
 * against is the remote catalog, which cannot race the local disk; a hostile local user already
 * owns the folder.
 */
import { dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { errorCode as codeOf } from './fs.js'
import type { FileSystem } from './fs.js'
import { catalogPathProblem } from './paths.js'
import { UnsafePathError, DiskFullError } from './errors.js'

/** ENOSPC / EDQUOT as `DiskFullError`; anything else unchanged. */
export function diskFullOr (error: unknown, what: string): unknown {
  const code = codeOf(error)
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(`disk full while ${what}`, { cause: error })
  return error
}

function absoluteOf (root: string, relPath: string): string {
  if (!isAbsolute(root)) throw new UnsafePathError(relPath, `the folder root ${JSON.stringify(root)} is not absolute`)
  const problem = catalogPathProblem(relPath)
  if (problem !== undefined) throw new UnsafePathError(String(relPath), problem)
  const base = resolve(root)
  const abs = join(base, ...relPath.split('/'))
  // Defence in depth: the syntax rules already exclude `..` and absolute paths.
  if (!abs.startsWith(base.endsWith(sep) ? base : base + sep)) throw new UnsafePathError(relPath, 'resolves outside the folder')
  return abs
}

/**
 * The absolute path of catalog path `relPath` inside `root`, after the syntax rules and an
 * `lstat` of every ancestor inside the folder that exists: each must be a real directory (not a
 * symlink, which could lead out of the folder, nor a file). The final component is not checked
 * here: whoever replaces or removes it inspects it (a rename replaces a symlink, never follows it).
 * Throws `UnsafePathError`; nothing is written.
 */
export async function resolveInside (fs: FileSystem, root: string, relPath: string): Promise<string> {
  const abs = absoluteOf(root, relPath)
  const segments = relPath.split('/')
  let dir = resolve(root)
  for (let i = 0; i < segments.length - 1; i++) {
    dir = join(dir, segments[i]!)
    const stat = await fs.stat(dir)
    if (stat === undefined) break // nothing below exists either
    if (stat.kind !== 'directory') {
      throw new UnsafePathError(relPath, `"${segments.slice(0, i + 1).join('/')}" is ${stat.kind === 'symlink' ? 'a symlink' : 'not a directory'}`)
    }
  }
  return abs
}

/**
 * Creates the directories of catalog path `relDir` inside `root` one level at a time, checking
 * each existing level as `resolveInside` does (`mkdir -p` would follow a planted symlink).
 * `relDir` `''` is the root itself. Each new directory is made durable (its parent fsync'd). Returns
 * the absolute path. `UnsafePathError`, `DiskFullError`.
 */
export async function mkdirInside (fs: FileSystem, root: string, relDir: string): Promise<string> {
  let dir = resolve(root)
  if (relDir === '') return dir
  absoluteOf(root, relDir)
  const segments = relDir.split('/')
  for (let i = 0; i < segments.length; i++) {
    dir = join(dir, segments[i]!)
    let stat = await fs.stat(dir)
    if (stat === undefined) {
      try {
        await fs.mkdir(dir)
        // A new directory survives a crash only once its parent's entry is durable; a file
        // renamed into it and fsync'd would be lost with it.
        await fs.syncDir(dirname(dir))
      } catch (error) {
        // Someone else made it meanwhile: fine if it is a directory (checked below).
        if (codeOf(error) !== 'EEXIST') throw diskFullOr(error, `creating ${JSON.stringify(relDir)}`)
      }
      stat = await fs.stat(dir)
    }
    if (stat?.kind !== 'directory') {
      throw new UnsafePathError(relDir, `"${segments.slice(0, i + 1).join('/')}" is ${stat?.kind === 'symlink' ? 'a symlink' : 'not a directory'}`)
    }
  }
  return dir
}

/** The catalog path's directory part (`''` at the root). */
export function parentOf (relPath: string): string {
  const slash = relPath.lastIndexOf('/')
  return slash < 0 ? '' : relPath.slice(0, slash)
}

/**
 * The key under which case-insensitive file systems (APFS and HFS+ by default, NTFS, FAT) see a
 * path. Deliberately folds more than any one of them (upper then lower case, so `ß`/`SS` and the
 * Kelvin sign fold too): a false collision costs a conflict copy, a missed one costs a file.
 * Pure and locale-free.
 */
export function caseFoldKey (path: string): string {
  return path.toUpperCase().toLowerCase().normalize('NFC')
}

export interface CaseCollision {
  /** The paths as given, in input order; they name the same thing on a case-insensitive host. */
  readonly paths: readonly string[]
  /** `same-name`: two files; `file-vs-directory`: a file and a directory another path needs. */
  readonly kind: 'same-name' | 'file-vs-directory'
}

/**
 * Groups of catalog paths (files) that cannot all exist on a case-insensitive file system: two
 * files whose names differ only by case, or a file whose name is, up to case, a directory another
 * path needs (`Docs` vs `docs/a.txt`). Differently-cased spellings of one directory (`A/x`,
 * `a/y`) are not a collision: both files fit, in one directory.
 */
export function findCaseCollisions (paths: Iterable<string>): CaseCollision[] {
  const files = new Map<string, string[]>()
  const all: string[] = []
  for (const path of paths) {
    all.push(path)
    const key = caseFoldKey(path)
    const group = files.get(key)
    if (group === undefined) files.set(key, [path])
    else if (!group.includes(path)) group.push(path)
  }
  const out: CaseCollision[] = []
  for (const group of files.values()) {
    if (group.length > 1) out.push({ paths: group, kind: 'same-name' })
  }
  // Directory prefixes, folded, with the first path that needs each.
  const dirs = new Map<string, string>()
  for (const path of all) {
    let slash = path.indexOf('/')
    while (slash >= 0) {
      const key = caseFoldKey(path.slice(0, slash))
      if (!dirs.has(key)) dirs.set(key, path)
      slash = path.indexOf('/', slash + 1)
    }
  }
  for (const [key, group] of files) {
    const needer = dirs.get(key)
    if (needer === undefined) continue
    // An exact file-vs-directory clash (`a` and `a/b`) is a problem on every host, not a case
    // problem: the catalog handles it. Report only the case-only ones.
    const exact = group.some(file => needer.startsWith(file + '/'))
    if (!exact) out.push({ paths: [...group, needer], kind: 'file-vs-directory' })
  }
  return out
}
