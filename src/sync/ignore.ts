/**
 * `.vpeerignore`: the paths of a folder this node does not replicate, in gitignore syntax (the
 * `ignore` package), read from the folder's root. Local to each node: like every `.vpeer*` name,
 * the file itself is never replicated. Names starting with `.vpeer` are always ignored.
 *
 * An ignored path is neither published nor deleted from the catalog: the scanner reports paths
 * that became ignored so the caller forgets them locally, and peers keep their copies.
 */
import ignore from 'ignore'
import type { Ignore } from 'ignore'
import { join } from 'node:path'
import type { FileStat, FileSystem } from './fs.js'
import { SyncError } from './errors.js'

export const IGNORE_FILE = '.vpeerignore'
/** A larger `.vpeerignore` is refused (it is read whole, on every change). */
export const IGNORE_FILE_BYTES_MAX = 1024 * 1024

/** True for a name (one segment) that is ours: never replicated, never scanned, never watched. */
export function isReservedName (name: string): boolean {
  return name.toLowerCase().startsWith('.vpeer')
}

export class IgnoreRules {
  private matcher: Ignore = ignore()
  private seen: FileStat | undefined
  private loaded = false

  /** `source` undefined: fixed rules (`fromText`), never reloaded. */
  private constructor (private readonly source: { readonly fs: FileSystem, readonly root: string } | undefined) {}

  /** Rules from `.vpeerignore` (none if absent), loaded now. */
  static async load (fs: FileSystem, root: string): Promise<IgnoreRules> {
    const rules = new IgnoreRules({ fs, root })
    await rules.reloadIfChanged()
    return rules
  }

  /** Rules from text (for tests and for callers that keep the rules elsewhere). */
  static fromText (text: string): IgnoreRules {
    const rules = new IgnoreRules(undefined)
    rules.matcher = ignore().add(text)
    rules.loaded = true
    return rules
  }

  /**
   * Whether catalog path `path` is ignored (`isDirectory`: it names a directory, so patterns with
   * a trailing `/` apply). A path under an ignored directory is ignored too, as in git, so a
   * caller can ask about a file without asking about its directories.
   */
  ignores (path: string, isDirectory = false): boolean {
    const segments = path.split('/')
    if (segments.some(isReservedName)) return true
    // Each ancestor as a directory, then the path itself: `build/` must cover `build/x/y`.
    let prefix = ''
    for (let i = 0; i < segments.length - 1; i++) {
      prefix += segments[i]! + '/'
      if (this.matcher.ignores(prefix)) return true
    }
    return this.matcher.ignores(isDirectory ? path + '/' : path)
  }

  /**
   * Re-reads `.vpeerignore` if it changed since the last read (its `lstat`); true if the rules
   * changed (the caller then rescans: newly unignored files must be found). A symlink or a
   * directory named `.vpeerignore` counts as no rules. `SyncError` `ERR_IGNORE_FILE_TOO_LARGE`.
   */
  async reloadIfChanged (): Promise<boolean> {
    if (this.source === undefined) return false
    const { fs, root } = this.source
    const path = join(root, IGNORE_FILE)
    const stat = await fs.stat(path)
    const usable = stat?.kind === 'file' ? stat : undefined
    if (this.loaded && sameStat(usable, this.seen)) return false
    let text = ''
    if (usable !== undefined) {
      if (usable.size > IGNORE_FILE_BYTES_MAX) {
        throw new SyncError(`${IGNORE_FILE} is ${usable.size} bytes, more than ${IGNORE_FILE_BYTES_MAX}`, 'ERR_IGNORE_FILE_TOO_LARGE')
      }
      const file = await fs.openRead(path)
      try {
        text = new TextDecoder().decode(await file.read(0, usable.size))
      } finally {
        await file.close()
      }
    }
    this.matcher = ignore().add(text)
    this.seen = usable
    this.loaded = true
    return true
  }
}

function sameStat (a: FileStat | undefined, b: FileStat | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino
}
