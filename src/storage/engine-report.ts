/**
 * What LevelDB says about its own files, and a marker that keeps a verdict once the evidence is
 * gone.
 *
 * classic-level opens LevelDB with `paranoid_checks` off and does not expose the option. Then a
 * write-ahead-log record whose checksum fails is *skipped* during recovery (with the rest of its
 * 32 KiB block), the recovered memtable is written to a table and the damaged log deleted: the
 * acknowledged batches in it are gone, and nothing is returned to the caller. LevelDB does write
 * one line about it to its info log (`<folder>/LOG`, recreated at every open):
 *
 *   (ignoring error) /path/000003.log: dropping 1018 bytes; Corruption: checksum mismatch
 *
 * so LevelStorage reads that file right after opening and refuses if recovery dropped anything.
 * The log file is deleted by then, so the finding is written to `VPEER-DAMAGED` (fsync'd) and
 * every later open refuses too, until an operator removes it.
 */
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { syncDir } from './witness.js'

/** LevelDB's info log of the current open. */
export const ENGINE_INFO_LOG = 'LOG'
/** Written when damage was found whose evidence LevelDB has already removed. */
export const DAMAGE_MARKER_FILE = 'VPEER-DAMAGED'

// Recovery lines of LevelDB 1.20 (db_impl.cc RecoverLogFile, MaybeIgnoreError) that mean data
// was skipped. A test pins them against the bundled LevelDB.
const DROP_PATTERNS = [/dropping \d+ bytes/, /Ignoring error/i]

/** Lines of LevelDB's info log in `dir` that report data skipped during recovery. */
export async function recoveryDrops (dir: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(join(dir, ENGINE_INFO_LOG), 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return []
    throw err
  }
  return text.split('\n').filter((line) => DROP_PATTERNS.some((pattern) => pattern.test(line)))
    // "2026/11/29-17:32:53.662216 7fdb77fff6c0 (ignoring error) …": the timestamp and thread id add nothing.
    .map((line) => line.replace(/^\S+ \S+ /, ''))
}

export interface DamageMarker {
  readonly code: string
  readonly reason: string
  readonly key?: string
  readonly foundAt: string
}

/** The marker in `dir`, if any. An unreadable marker still counts: its presence is the point. */
export async function readDamageMarker (dir: string): Promise<DamageMarker | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, DAMAGE_MARKER_FILE), 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const parsed = JSON.parse(text) as Partial<DamageMarker>
    if (typeof parsed.code === 'string' && typeof parsed.reason === 'string' && typeof parsed.foundAt === 'string') {
      return { code: parsed.code, reason: parsed.reason, foundAt: parsed.foundAt, ...(typeof parsed.key === 'string' ? { key: parsed.key } : {}) }
    }
  } catch {}
  return { code: 'ERR_CORRUPT_DATABASE', reason: `unreadable ${DAMAGE_MARKER_FILE} file`, foundAt: 'unknown' }
}

/** Writes the marker durably (file and folder entry). */
export async function writeDamageMarker (dir: string, marker: DamageMarker): Promise<void> {
  const handle = await open(join(dir, DAMAGE_MARKER_FILE), 'w')
  try {
    await handle.writeFile(`${JSON.stringify(marker, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await syncDir(dir)
}
