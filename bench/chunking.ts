/**
 * Content-defined chunking and the chunk store, measured:
 *
 *   npm run bench:chunking                  JSON on stdout, a short table on stderr
 *   npm run bench:chunking -- --markdown    the table on stdout instead
 *   npm run bench:chunking -- --quick       4 MiB, 1 MiB through the store (smoke test)
 *
 * On `--mib` of random bytes (in memory, so the disk is not measured): FastCDC cut points only
 * (`cutPoints`), cut points with SHA-256 ids (`chunkRefsOf`), and the streaming reader
 * (`chunkFile` over an in-memory file, 1 MiB reads), best of `--repeats`. Then the chunk stores,
 * each on a temp dir of the real disk (NodeFileSystem): `PackChunkStore` (the node's: batched
 * appends to a pack) and `FsChunkStore` (a file per chunk, for comparison): put of the first
 * `--store-mib` of chunks, 16 in flight, and get of them back one by one (read, SHA-256 verify).
 */
import { randomFillSync } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chunkIdOf } from '../src/sync/chunk.js'
import type { ChunkStore } from '../src/sync/chunk.js'
import { FsChunkStore } from '../src/sync/chunk-store.js'
import { PackChunkStore } from '../src/sync/pack-store.js'
import { CHUNK_AVG_BYTES, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, chunkFile, chunkRefsOf, cutPoints } from '../src/sync/chunker.js'
import { NodeFileSystem } from '../src/sync/fs.js'
import type { ReadableFile } from '../src/sync/fs.js'
import { UsageError, benchCli, intFlag, parseFlags, runIfMain } from './cli-errors.js'
import { machineInfo } from './machine.js'
import type { MachineInfo } from './machine.js'

export const USAGE = `usage: npm run bench:chunking -- [--json | --markdown] [--quick] [--mib N] [--store-mib N] [--repeats N]

FastCDC chunking throughput on random data in memory, and the chunk stores' put/get on a temp dir
(PackChunkStore, the node's; FsChunkStore, a file per chunk, for comparison).
  --json          the full result as JSON on stdout, the table on stderr (default)
  --markdown      the table on stdout instead
  --quick         4 MiB, 1 MiB through the store, 1 repeat (smoke test; not a measurement)
  --mib N         MiB of random data chunked (default 64)
  --store-mib N   MiB of those chunks put into and read back from the store (default 16)
  --repeats N     chunking runs per figure, the best kept (default 3)
  --help          this text
Exit codes: 0 done, 1 the bench failed, 2 bad options.`

export interface Options {
  readonly format: 'json' | 'markdown'
  readonly quick: boolean
  readonly mib: number
  readonly storeMib: number
  readonly repeats: number
}

export function parseOptions (argv: readonly string[]): Options {
  const values = parseFlags(argv, {
    json: { type: 'boolean' },
    markdown: { type: 'boolean' },
    quick: { type: 'boolean' },
    mib: { type: 'string' },
    'store-mib': { type: 'string' },
    repeats: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, USAGE)
  if (values.json === true && values.markdown === true) throw new UsageError('--json and --markdown exclude each other')
  const quick = values.quick === true
  const mib = intFlag('mib', values.mib, quick ? 4 : 64, 1, 1024)
  const storeMib = intFlag('store-mib', values['store-mib'], quick ? 1 : 16, 0, 1024)
  if (storeMib > mib) throw new UsageError(`--store-mib (${storeMib}) cannot exceed --mib (${mib})`)
  return { format: values.markdown === true ? 'markdown' : 'json', quick, mib, storeMib, repeats: intFlag('repeats', values.repeats, quick ? 1 : 3, 1, 100) }
}

export interface Throughput {
  /** Best run. */
  readonly mbPerSec: number
  readonly ms: number
}

export interface ChunkingBenchResult extends MachineInfo {
  readonly bench: 'chunking'
  readonly params: Options & { readonly minBytes: number, readonly avgBytes: number, readonly maxBytes: number }
  readonly chunks: { readonly count: number, readonly meanBytes: number }
  readonly cutPoints: Throughput
  readonly cutPointsWithIds: Throughput
  readonly chunkFileStreaming: Throughput
  /** The node's store (`PackChunkStore`). */
  readonly store: null | StoreFigures
  /** The per-file layout it replaced (`FsChunkStore`), for comparison. */
  readonly fileStore: null | StoreFigures
}

export interface StoreFigures {
  readonly chunks: number
  readonly bytes: number
  /** 16 puts in flight at a time (the block exchange stores answers as they come). */
  readonly put: Throughput & { readonly putsPerSec: number }
  /** One get at a time. */
  readonly get: Throughput
}

/** Puts `chunks` into a fresh store in a temp dir, 16 at a time, then reads each back. */
async function measureStore (make: (dir: string) => ChunkStore & { close?: () => Promise<void> }, chunks: ReadonlyArray<{ id: string, bytes: Uint8Array }>): Promise<StoreFigures> {
  const bytes = chunks.reduce((sum, c) => sum + c.bytes.length, 0)
  const dir = await mkdtemp(join(tmpdir(), 'vpeer-bench-chunks-'))
  try {
    const store = make(dir)
    const t0 = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < chunks.length) {
        const c = chunks[next++] as { id: string, bytes: Uint8Array }
        await store.put(c.id, c.bytes)
      }
    }))
    const putMs = performance.now() - t0
    const t1 = performance.now()
    for (const c of chunks) await store.get(c.id)
    const getMs = performance.now() - t1
    await store.close?.()
    return { chunks: chunks.length, bytes, put: { ...rate(bytes, putMs), putsPerSec: Math.round(chunks.length / (putMs / 1000)) }, get: rate(bytes, getMs) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const MB = 1e6

function best (bytes: number, repeats: number, fn: () => void): Throughput {
  let ms = Number.POSITIVE_INFINITY
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now()
    fn()
    ms = Math.min(ms, performance.now() - t0)
  }
  return rate(bytes, ms)
}

function rate (bytes: number, ms: number): Throughput {
  return { mbPerSec: Number((bytes / MB / (ms / 1000)).toFixed(1)), ms: Number(ms.toFixed(1)) }
}

function memoryFile (bytes: Uint8Array): ReadableFile {
  return {
    async read (position, length) { return bytes.subarray(position, Math.min(bytes.length, position + length)) },
    async close () {}
  }
}

export async function run (o: Options, log: (line: string) => void): Promise<ChunkingBenchResult> {
  const data = new Uint8Array(o.mib * 1024 * 1024)
  // randomFillSync fills at most 2^31-1 bytes per call; 64 KiB slices keep it simple.
  for (let at = 0; at < data.length; at += 1 << 16) randomFillSync(data.subarray(at, at + (1 << 16)))
  log(`chunking ${o.mib} MiB of random data, best of ${o.repeats}`)
  let cuts: number[] = []
  const cutPointsRate = best(data.length, o.repeats, () => { cuts = cutPoints(data) })
  const withIds = best(data.length, o.repeats, () => { chunkRefsOf(data) })
  let streamMs = Number.POSITIVE_INFINITY
  for (let i = 0; i < o.repeats; i++) {
    const t0 = performance.now()
    for await (const chunk of chunkFile(memoryFile(data))) void chunk
    streamMs = Math.min(streamMs, performance.now() - t0)
  }
  let store: ChunkingBenchResult['store'] = null
  let fileStore: ChunkingBenchResult['fileStore'] = null
  if (o.storeMib > 0) {
    const limit = o.storeMib * 1024 * 1024
    const chunks: Array<{ id: string, bytes: Uint8Array }> = []
    let start = 0
    for (const end of cuts) {
      if (start >= limit) break
      const bytes = data.subarray(start, end)
      chunks.push({ id: chunkIdOf(bytes), bytes })
      start = end
    }
    log(`chunk stores: ${chunks.length} chunks (${(chunks.reduce((sum, c) => sum + c.bytes.length, 0) / MB).toFixed(1)} MB) into temp dirs`)
    store = await measureStore(dir => new PackChunkStore(new NodeFileSystem(), dir), chunks)
    fileStore = await measureStore(dir => new FsChunkStore(new NodeFileSystem(), dir), chunks)
  }
  const result: ChunkingBenchResult = {
    bench: 'chunking',
    ...machineInfo(),
    params: { ...o, minBytes: CHUNK_MIN_BYTES, avgBytes: CHUNK_AVG_BYTES, maxBytes: CHUNK_MAX_BYTES },
    chunks: { count: cuts.length, meanBytes: Math.round(data.length / cuts.length) },
    cutPoints: cutPointsRate,
    cutPointsWithIds: withIds,
    chunkFileStreaming: rate(data.length, streamMs),
    store,
    fileStore
  }
  if (o.format === 'json') log(table(result))
  return result
}

/** The short table: one row per figure. */
export function table (r: ChunkingBenchResult): string {
  const rows: Array<[string, string]> = [
    [`FastCDC cut points (${r.params.mib} MiB random, mean chunk ${(r.chunks.meanBytes / 1024).toFixed(1)} KiB)`, `${r.cutPoints.mbPerSec} MB/s`],
    ['cut points + SHA-256 ids (chunkRefsOf)', `${r.cutPointsWithIds.mbPerSec} MB/s`],
    ['chunkFile streaming (1 MiB reads, ids)', `${r.chunkFileStreaming.mbPerSec} MB/s`]
  ]
  if (r.store !== null) {
    rows.push([`PackChunkStore put (${r.store.chunks} chunks, 16 in flight: batched appends to a pack, no fsync)`, `${r.store.put.mbPerSec} MB/s (${r.store.put.putsPerSec} puts/s)`])
    rows.push(['PackChunkStore get (one read + SHA-256 verify)', `${r.store.get.mbPerSec} MB/s`])
  }
  if (r.fileStore !== null) {
    rows.push(['FsChunkStore put (a file per chunk: open, write, close, rename; no fsync)', `${r.fileStore.put.mbPerSec} MB/s (${r.fileStore.put.putsPerSec} puts/s)`])
    rows.push(['FsChunkStore get (open, read, close + SHA-256 verify)', `${r.fileStore.get.mbPerSec} MB/s`])
  }
  return [
    `vpeer chunking: ${r.cpu.model} (${r.cpu.count} CPUs), Node ${r.node}, ${r.date.slice(0, 10)}${r.params.quick ? ' — QUICK RUN, not a measurement' : ''}`,
    '',
    '| figure | throughput |',
    '|---|---:|',
    ...rows.map(([a, b]) => `| ${a} | ${b} |`)
  ].join('\n')
}

export function formatResult (r: ChunkingBenchResult, format: Options['format']): string {
  return format === 'markdown' ? table(r) : JSON.stringify(r, null, 2)
}

/** The CLI: returns the exit code (0 done, 2 bad flags); a failure of the bench itself throws. */
export async function cli (argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  return await benchCli(argv, out, err, { usage: USAGE, parse: parseOptions, run, format: (r, o) => formatResult(r, o.format) })
}

runIfMain(import.meta.url, 'bench:chunking', cli)
