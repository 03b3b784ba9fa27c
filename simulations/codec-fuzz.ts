/**
 * `npm run fuzz:codec -- [--frames 1000000] [--seed 1] [--json]`
 *
 * Fuzzes the binary wire codec (src/alm/codec-fuzz.ts): mutated and random frames, checking that
 * decoding throws only the codec's typed errors and that every frame that decodes is canonical.
 * A finding replays with the same `--seed` and `--frames`; the report carries the frame's bytes.
 *
 * Exit codes: 0 clean, 1 an unexpected error or a round-trip mismatch, 2 bad arguments.
 */
import { pathToFileURL } from 'node:url'
import { HelpRequested, UsageError, parseFlags } from '../bench/cli-errors.js'
import { fuzzWireCodec } from '../src/alm/codec-fuzz.js'
import type { CodecFuzzReport } from '../src/alm/codec-fuzz.js'

export const USAGE = `Usage: npm run fuzz:codec -- [options]

Decodes mutated and random frames with the wire codec (src/alm/wire-codec.ts) and checks that it
throws only WireDecodeError / FrameTooLargeError, and that every frame that decodes re-encodes
to the same bytes and decodes again to the same message.

Options:
  --frames N   frames to try (default 1000000)
  --seed N     PRNG seed (default 1); the same seed and frames replay the same run
  --json       print the whole report as JSON (default: a short summary)
  --help       this text

Exit codes: 0 clean, 1 unexpected errors or round-trip mismatches, 2 bad arguments.`

export interface CodecFuzzCliOptions {
  readonly frames: number
  readonly seed: number
  readonly json: boolean
}

export function parseOptions (argv: readonly string[]): CodecFuzzCliOptions {
  const values = parseFlags(argv, {
    frames: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }, USAGE)
  const int = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    const v = raw === undefined ? fallback : Number(raw.replaceAll('_', '').replaceAll(',', ''))
    if (raw?.trim() === '' || !Number.isSafeInteger(v) || v < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`)
    return v
  }
  return { frames: int('frames', values.frames, 1_000_000, 1), seed: int('seed', values.seed, 1, 0), json: values.json === true }
}

export function summary (report: CodecFuzzReport, elapsedMs: number): string {
  const pct = (n: number): string => `${(100 * n / report.frames).toFixed(1)}%`
  const refused = Object.entries(report.refused).map(([code, n]) => `${code} ${n.toLocaleString('en-US')} (${pct(n)})`).join(', ')
  const lines = [
    `codec fuzz: seed ${report.seed}, ${report.frames.toLocaleString('en-US')} frames in ${(elapsedMs / 1000).toFixed(1)} s ` +
      `(${Math.round(report.frames / Math.max(elapsedMs, 1) * 1000).toLocaleString('en-US')} frames/s)`,
    `  decoded: ${report.decoded.toLocaleString('en-US')} (${pct(report.decoded)}), every one re-encoded and decoded again`,
    `  refused: ${refused}`,
    `  by mutation (decoded/frames): ${Object.entries(report.byMutation).map(([k, v]) => `${k} ${v.decoded}/${v.frames}`).join(', ')}`,
    `  round-trip mismatches: ${report.roundTripMismatches}`,
    `  unexpected errors: ${report.unexpectedErrorCount}`
  ]
  for (const f of [...report.unexpectedErrors, ...report.mismatches].slice(0, 10)) {
    lines.push(`    frame ${f.frame} (${f.mutation}, ${f.bytes} bytes${f.frameBytesMax === undefined ? '' : `, frameBytesMax ${f.frameBytesMax}`}): ${f.detail}`, `      ${f.hex}`)
  }
  lines.push(report.roundTripMismatches === 0 && report.unexpectedErrorCount === 0 ? 'OK' : 'FAILED')
  return lines.join('\n')
}

export function main (argv: readonly string[]): number {
  const options = parseOptions(argv)
  const started = Date.now()
  const report = fuzzWireCodec({
    seed: options.seed,
    frames: options.frames,
    progressEvery: 100_000,
    onProgress: ({ done, total, decoded }) => {
      process.stderr.write(`${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} frames, ${decoded.toLocaleString('en-US')} decoded, ` +
        `${Math.round(done / Math.max(Date.now() - started, 1) * 1000).toLocaleString('en-US')}/s\n`)
    }
  })
  const elapsedMs = Date.now() - started
  process.stdout.write(options.json
    ? `${JSON.stringify({ command: `npm run fuzz:codec -- ${argv.join(' ')}`.trim(), ...report, elapsedMs }, null, 2)}\n`
    : `${summary(report, elapsedMs)}\n`)
  return report.roundTripMismatches === 0 && report.unexpectedErrorCount === 0 ? 0 : 1
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  try {
    process.exitCode = main(process.argv.slice(2))
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(`${error.message}\n`)
    } else if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`)
      process.exitCode = 2
    } else {
      throw error
    }
  }
}
