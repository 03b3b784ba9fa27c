import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'

/** A bad flag (exit 2), as opposed to a failure of the bench itself. */
export class UsageError extends Error {
  readonly code = 'ERR_BENCH_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** `--help` was asked for: print the usage (the message) and exit 0. */
export class HelpRequested extends Error {
  readonly code = 'ERR_BENCH_HELP'
  constructor (usage: string) {
    super(usage)
    this.name = 'HelpRequested'
  }
}

/**
 * `util.parseArgs` with the CLIs' conventions: strict, no positionals, a bad flag is a
 * `UsageError` (exit 2), `--help` is `HelpRequested` (print `usage`, exit 0).
 */
export function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>> (argv: readonly string[], options: O, usage: string): ReturnType<typeof parseArgs<{ options: O, strict: true, allowPositionals: false }>>['values'] {
  let values: ReturnType<typeof parseArgs<{ options: O, strict: true, allowPositionals: false }>>['values']
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  if ((values as { help?: unknown }).help === true) throw new HelpRequested(usage)
  return values
}

/** A flag's value as an integer in [min, max]; `fallback` when the flag was not given. */
export function intFlag (name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got ${raw}`)
  return v
}

/** A comma-separated list of integers in [min, max] (at least one); `fallback` when the flag was not given. */
export function intListFlag (name: string, raw: string | undefined, fallback: readonly number[], min: number, max: number): number[] {
  if (raw === undefined) return [...fallback]
  const list = raw.split(',').map(x => x.trim()).filter(x => x !== '').map(x => intFlag(name, x, 0, min, max))
  if (list.length === 0) throw new UsageError(`--${name}: none given`)
  return list
}

/**
 * Runs a CLI's option parser. `--help` prints `usage` and a bad flag prints the error and
 * `usage`; both give the exit code (0, 2) instead of options. Anything else is rethrown.
 */
export function parseCli<O> (parse: () => O, usage: string, out: (text: string) => void, err: (text: string) => void): { options: O } | { exit: number } {
  try {
    return { options: parse() }
  } catch (error) {
    if (error instanceof HelpRequested) { out(usage + '\n'); return { exit: 0 } }
    if (error instanceof UsageError) { err(`${error.message}\n\n${usage}\n`); return { exit: 2 } }
    throw error
  }
}

/**
 * The whole CLI of a bench that measures once and prints the result: options, the run (progress
 * lines to `err`), the result formatted on `out`. Returns the exit code (0 done, 2 bad flags); a
 * failure of the bench itself throws.
 */
export async function benchCli<O, R> (argv: readonly string[], out: (text: string) => void, err: (text: string) => void, bench: {
  readonly usage: string
  readonly parse: (argv: readonly string[]) => O
  readonly run: (options: O, log: (line: string) => void) => Promise<R>
  readonly format: (result: R, options: O) => string
}): Promise<number> {
  const parsed = parseCli(() => bench.parse(argv), bench.usage, out, err)
  if ('exit' in parsed) return parsed.exit
  const result = await bench.run(parsed.options, line => { err(line + '\n') })
  out(bench.format(result, parsed.options) + '\n')
  return 0
}

/** Runs `cli` on the process's arguments when `moduleUrl` is the script node was started with. */
export function runIfMain (moduleUrl: string, name: string, cli: (argv: readonly string[], out: (text: string) => void, err: (text: string) => void) => Promise<number>): void {
  const invokedPath = process.argv[1]
  if (invokedPath === undefined || moduleUrl !== pathToFileURL(invokedPath).href) return
  cli(process.argv.slice(2), text => process.stdout.write(text), text => process.stderr.write(text)).then(code => { process.exitCode = code }, (error: unknown) => {
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exitCode = 1
  })
}
