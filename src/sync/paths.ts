/**
 * Catalog paths: the names files have inside a replicated folder, the same on every host. A path
 * is relative, `/`-separated, and every host can store it: the rules are the union of what Linux,
 * macOS and Windows refuse, checked deterministically (the catalog state machine refuses a bad
 * path at apply, identically on every replica, and a node checks again before it writes).
 *
 * Names that start with `.vpeer` are ours (temporary files, `.vpeerignore`) and never replicate.
 */

/** Longest path in UTF-8 bytes (Linux PATH_MAX minus room for the folder it lives in). */
export const PATH_BYTES_MAX = 3072
/** Longest segment in UTF-8 bytes (NAME_MAX on Linux and macOS). */
export const SEGMENT_BYTES_MAX = 255
export const PATH_DEPTH_MAX = 64

const RESERVED_PREFIX = '.vpeer'
// Windows device names, with or without an extension, in any case.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i
// Control characters and what Windows refuses in a name (`/` separates segments).
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHAR = /[\u0000-\u001f\u007f<>:"\\|?*]/

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const utf8 = new TextEncoder()

/**
 * Why `path` cannot be a catalog path, or `undefined` if it can. Pure and deterministic (no
 * locale, no platform): a replica's verdict is every replica's.
 */
export function catalogPathProblem (path: unknown): string | undefined {
  if (typeof path !== 'string') return 'not a string'
  if (path.length === 0) return 'empty'
  if (LONE_SURROGATE.test(path)) return 'not well-formed Unicode (a lone surrogate)'
  if (utf8.encode(path).length > PATH_BYTES_MAX) return `longer than ${PATH_BYTES_MAX} bytes`
  if (path.startsWith('/')) return 'absolute'
  if (/^[a-zA-Z]:/.test(path)) return 'absolute (drive letter)'
  if (path.normalize('NFC') !== path) return 'not in Unicode normal form C'
  const segments = path.split('/')
  if (segments.length > PATH_DEPTH_MAX) return `deeper than ${PATH_DEPTH_MAX}`
  for (const segment of segments) {
    const problem = segmentProblem(segment)
    if (problem !== undefined) return problem
  }
  return undefined
}

function segmentProblem (segment: string): string | undefined {
  if (segment === '') return 'empty segment'
  if (segment === '.' || segment === '..') return `"${segment}" segment`
  if (utf8.encode(segment).length > SEGMENT_BYTES_MAX) return `a name longer than ${SEGMENT_BYTES_MAX} bytes`
  if (FORBIDDEN_CHAR.test(segment)) return 'a control character or one of <>:"\\|?*'
  if (segment.endsWith(' ') || segment.endsWith('.')) return 'a name ending in a space or a dot'
  if (WINDOWS_DEVICE.test(segment)) return 'a Windows device name'
  if (segment.toLowerCase().startsWith(RESERVED_PREFIX)) return `a name starting with ${RESERVED_PREFIX} (reserved)`
  return undefined
}

export function isCatalogPath (path: unknown): path is string {
  return catalogPathProblem(path) === undefined
}

/**
 * The name the later of two conflicting versions is kept under: `dir/name.conflict-<peer>-<time>.ext`
 * (`time` as YYYYMMDD-HHMMSS UTC, from the proposal time, the same on every replica; `peer`
 * shortened to its last 8 characters). Deterministic. The result may still be taken; the
 * catalog adds `-2`, `-3`, … until it is free. Returns a valid catalog path for a valid `path`.
 */
export function conflictName (path: string, peer: string, atMs: number, attempt = 1): string {
  const slash = path.lastIndexOf('/')
  const dir = path.slice(0, slash + 1)
  const name = path.slice(slash + 1)
  const dot = name.lastIndexOf('.')
  // A leading dot is part of the name (".bashrc"), not an extension.
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  const safePeer = peer.replace(/[^A-Za-z0-9]/g, '').slice(-8) || 'peer'
  const suffix = `.conflict-${safePeer}-${stamp(atMs)}${attempt > 1 ? `-${attempt}` : ''}`
  // Keep the segment within the limit by shortening the stem, never the suffix or extension.
  const room = SEGMENT_BYTES_MAX - utf8.encode(suffix + ext).length
  return dir + truncateUtf8(stem, Math.max(1, room)) + suffix + ext
}

function stamp (ms: number): string {
  const d = new Date(Number.isFinite(ms) && ms >= 0 && ms < 8.64e15 ? ms : 0)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
}

function truncateUtf8 (text: string, bytes: number): string {
  if (utf8.encode(text).length <= bytes) return text
  let out = ''
  let used = 0
  for (const ch of text) {
    const n = utf8.encode(ch).length
    if (used + n > bytes) break
    out += ch
    used += n
  }
  // Never end on a space or dot (not storable on Windows).
  return out.replace(/[ .]+$/, '') || 'f'
}
