/**
 * The file-replication catalog at scale (src/sync/catalog.ts): a folder of 10,000 and 100,000
 * files of ~8 chunks each, under realistic paths.
 *
 *   npm run bench:catalog                       JSON on stdout, progress on stderr
 *   npm run bench:catalog -- --table            a human table on stdout instead
 *   npm run bench:catalog -- --sizes 1000       other catalog sizes (smoke test)
 *
 * For each size:
 *   - apply: N put commands of new files applied one after the other (validation, root hash
 *     check, the persistent map's path copying): puts per second; and the command codec's
 *     decode alone, for comparison;
 *   - capture: what the snapshot code does on the apply path (`capture()`, a frozen root): µs,
 *     median of many;
 *   - serialize: the captured view to bytes (off the apply path), ms and bytes;
 *   - restore: those bytes into a fresh catalog, with every check (paths, order, sizes, root
 *     hashes recomputed), ms.
 * Once: a delta put of 3 changed chunks in a 640-chunk (10 MiB) file against the full put of
 * the same version: encoded command bytes.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { ApplyContext } from '../src/contracts/index.js'
import { CatalogStateMachine } from '../src/sync/catalog.js'
import { decodeCatalogCommand, encodeCatalogCommand } from '../src/sync/catalog-codec.js'
import { rootHashOf } from '../src/sync/catalog-types.js'
import type { PutCommand } from '../src/sync/catalog-types.js'
import type { ChunkRef } from '../src/sync/chunk.js'
import { UsageError, benchCli, intFlag, intListFlag, parseFlags, runIfMain } from './cli-errors.js'
import { machineInfo } from './machine.js'
import type { MachineInfo } from './machine.js'

export const USAGE = `usage: npm run bench:catalog -- [--json | --table] [--sizes 10000,100000] [--chunks 8]

The replicated catalog of one folder: apply throughput, snapshot capture (on the apply path),
serialization and size, restore; and the size of a delta put against a full one.
  --json          the result as JSON on stdout (default)
  --table         a human table on stdout instead
  --sizes LIST    catalog sizes in files (default 10000,100000)
  --chunks N      chunks per file (default 8)
  --help          this text
Progress goes to stderr. Exit codes: 0 done, 1 the bench failed, 2 bad options.`

export interface Options {
  readonly format: 'json' | 'table'
  readonly sizes: readonly number[]
  readonly chunks: number
}

export function parseOptions (argv: readonly string[]): Options {
  const values = parseFlags(argv, {
    json: { type: 'boolean' },
    table: { type: 'boolean' },
    sizes: { type: 'string' },
    chunks: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, USAGE)
  if (values.json === true && values.table === true) throw new UsageError('--json and --table exclude each other')
  const sizes = intListFlag('sizes', values.sizes, [10_000, 100_000], 1, 2_000_000)
  return { format: values.table === true ? 'table' : 'json', sizes, chunks: intFlag('chunks', values.chunks, 8, 0, 1000) }
}

export interface SizeResult {
  readonly files: number
  readonly chunksPerFile: number
  readonly applyPutsPerSec: number
  readonly decodeCommandsPerSec: number
  readonly captureMicros: number
  readonly serializeMs: number
  readonly snapshotBytes: number
  readonly snapshotMB: number
  readonly restoreMs: number
}

export interface DeltaResult {
  readonly fileChunks: number
  readonly fileBytes: number
  readonly changedChunks: number
  readonly deltaCommandBytes: number
  readonly fullCommandBytes: number
}

export interface Result {
  readonly machine: MachineInfo
  readonly sizes: SizeResult[]
  readonly delta: DeltaResult
}

const CHUNK = 16 * 1024
const DIRS = ['src/components', 'src/lib/util', 'docs/guides', 'assets/images/2024', 'photos/2023/summer trip', 'music/albums/Some Artist', 'projects/vpeer/test/unit', 'Documents/Rechnungen/März']

/** A realistic relative path: a few levels of directories, a name with an extension. */
function pathOf (i: number): string {
  const dir = DIRS[i % DIRS.length] as string
  const ext = ['.ts', '.md', '.jpg', '.flac', '.pdf', '.json'][i % 6] as string
  return `${dir}/group-${Math.floor(i / 1000)}/file-${i.toString(36)}-${(i * 2654435761 % 4096).toString(16)}${ext}`
}

function refs (n: number, last = CHUNK): ChunkRef[] {
  const ids = randomBytes(32 * n)
  return Array.from({ length: n }, (_, i) => ({ id: ids.subarray(32 * i, 32 * i + 32).toString('hex'), size: i === n - 1 ? last : CHUNK }))
}

function putOf (path: string, base: number, list: ChunkRef[]): PutCommand {
  return { type: 'put', path, base, size: list.reduce((s, c) => s + c.size, 0), mode: 0o644, mtimeMs: 1_700_000_000_000, origin: '12D3KooWPeerAAAAAAAA', rootHash: rootHashOf(list), content: { full: list } }
}

function ctxAt (slot: number): ApplyContext {
  return { slot, offset: 0, client: 'bench', seq: slot, proposedAtMs: 1_700_000_000_000 + slot, send: () => { throw new Error('no outputs') } }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

async function measureSize (files: number, chunks: number, log: (line: string) => void): Promise<SizeResult> {
  log(`catalog of ${files} files: building the commands…`)
  const commands = Array.from({ length: files }, (_, i) => putOf(pathOf(i), 0, refs(chunks, 1 + (i % CHUNK))))
  const encoded = commands.map(encodeCatalogCommand)
  let t = performance.now()
  for (const bytes of encoded) decodeCatalogCommand(bytes)
  const decodeMs = performance.now() - t
  const sm = new CatalogStateMachine()
  t = performance.now()
  for (let i = 0; i < files; i++) {
    const r = sm.apply(commands[i] as PutCommand, ctxAt(i + 1))
    if (r.status !== 'ok') throw new Error(`put ${i} ${r.status}: ${r.reason ?? ''}`)
  }
  const applyMs = performance.now() - t
  log(`  applied ${files} puts in ${applyMs.toFixed(0)} ms`)
  const captures: number[] = []
  let view: () => Uint8Array = () => new Uint8Array()
  for (let i = 0; i < 1001; i++) {
    const s = performance.now()
    view = sm.capture()
    captures.push((performance.now() - s) * 1000)
  }
  // The state moves on after the capture, as it does in a running group.
  for (let i = 0; i < 100; i++) sm.apply(putOf(`after/${i}.txt`, 0, refs(2)), ctxAt(files + i + 1))
  t = performance.now()
  const bytes = view()
  const serializeMs = performance.now() - t
  const fresh = new CatalogStateMachine()
  t = performance.now()
  fresh.restore(bytes)
  const restoreMs = performance.now() - t
  if (fresh.stats.files !== files) throw new Error(`restored ${fresh.stats.files} files, expected ${files}`)
  log(`  snapshot ${(bytes.length / 1e6).toFixed(1)} MB, serialized in ${serializeMs.toFixed(0)} ms, restored in ${restoreMs.toFixed(0)} ms`)
  return {
    files,
    chunksPerFile: chunks,
    applyPutsPerSec: Math.round(files / (applyMs / 1000)),
    decodeCommandsPerSec: Math.round(files / (decodeMs / 1000)),
    captureMicros: Number(median(captures).toFixed(2)),
    serializeMs: Number(serializeMs.toFixed(1)),
    snapshotBytes: bytes.length,
    snapshotMB: Number((bytes.length / (1024 * 1024)).toFixed(2)),
    restoreMs: Number(restoreMs.toFixed(1))
  }
}

function measureDelta (): DeltaResult {
  const n = 640
  const base = refs(n)
  const next = [...base]
  const edits = [10, 320, 600].map(at => ({ at, remove: 1, insert: refs(1) }))
  for (const e of edits) next.splice(e.at, e.remove, ...e.insert)
  const full = putOf('video/big.bin', 1, next)
  const delta: PutCommand = { ...full, content: { delta: edits } }
  // Check that the catalog accepts it, so the figure is of a working command.
  const sm = new CatalogStateMachine()
  sm.apply(putOf('video/big.bin', 0, base), ctxAt(1))
  const r = sm.apply(delta, ctxAt(2))
  if (r.status !== 'ok') throw new Error(`delta put ${r.status}: ${r.reason ?? ''}`)
  return { fileChunks: n, fileBytes: n * CHUNK, changedChunks: edits.length, deltaCommandBytes: encodeCatalogCommand(delta).length, fullCommandBytes: encodeCatalogCommand(full).length }
}

export async function runBench (options: Options, log: (line: string) => void): Promise<Result> {
  const sizes: SizeResult[] = []
  for (const files of options.sizes) sizes.push(await measureSize(files, options.chunks, log))
  return { machine: machineInfo(), sizes, delta: measureDelta() }
}

export function formatTable (r: Result): string {
  const rows = r.sizes.map(s => `| ${s.files.toLocaleString('en')} | ${s.applyPutsPerSec.toLocaleString('en')} | ${s.captureMicros} | ${s.serializeMs} | ${s.snapshotMB} | ${s.restoreMs} |`)
  const d = r.delta
  return [
    '| files | apply (puts/s) | capture on the apply path (µs) | serialize (ms) | snapshot (MB) | restore (ms) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `delta put, ${d.changedChunks} of ${d.fileChunks} chunks changed (${(d.fileBytes / (1024 * 1024)).toFixed(0)} MiB file): ${d.deltaCommandBytes} bytes vs ${d.fullCommandBytes} bytes for the full put`
  ].join('\n')
}

export async function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  return await benchCli(argv, out, err, {
    usage: USAGE,
    parse: parseOptions,
    run: runBench,
    format: (result, options) => (options.format === 'table' ? formatTable(result) : JSON.stringify(result, null, 2))
  })
}

runIfMain(import.meta.url, 'bench:catalog', cli)
