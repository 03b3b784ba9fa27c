/**
 * `npm run lincheck -- FILE` checks a JSON-lines client history for linearizability.
 *
 * Exit codes: 0 linearizable, 1 not linearizable, 2 malformed input, unreadable file or bad
 * flags, 3 undecided within the budget.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { checkHistory, formatViolation, MalformedHistoryError, parseHistory } from './lincheck/index.js'

const usage = `usage: npm run lincheck -- [--max-steps N] [--time-budget-ms N] FILE|-

Checks a JSON-lines client history for linearizability ("-" reads stdin).
  --max-steps N        search steps allowed per key (deterministic budget)
  --time-budget-ms N   wall-clock budget for the whole history (default 10000)
Exit codes: 0 linearizable, 1 not linearizable, 2 malformed input or unreadable file, 3 undecided`

const exit = { linearizable: 0, violation: 1, malformed: 2, undecided: 3 } as const

class UsageError extends Error {
  static override name = 'UsageError'
  readonly code = 'ERR_LINCHECK_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

function nonNegativeInteger (flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} must be a non-negative integer, got ${JSON.stringify(text)}`)
  return Number(text)
}

async function readInput (file: string): Promise<string> {
  if (file !== '-') return await readFile(file, 'utf8')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function main (argv: string[]): Promise<number> {
  let file: string
  let maxSteps: number | undefined
  let timeBudgetMs: number | undefined
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'max-steps': { type: 'string' },
        'time-budget-ms': { type: 'string', default: '10000' },
        help: { type: 'boolean', short: 'h' }
      }
    })
    if (values.help === true) {
      console.log(usage)
      return exit.linearizable
    }
    if (positionals.length !== 1 || positionals[0] === undefined) throw new UsageError('expected exactly one FILE (or - for stdin)')
    file = positionals[0]
    maxSteps = nonNegativeInteger('--max-steps', values['max-steps'])
    timeBudgetMs = nonNegativeInteger('--time-budget-ms', values['time-budget-ms'])
  } catch (error) {
    console.error(`lincheck: ${(error as Error).message}\n\n${usage}`)
    return exit.malformed
  }

  let text: string
  try {
    text = await readInput(file)
  } catch (error) {
    console.error(`lincheck: cannot read ${file}: ${(error as Error).message}`)
    return exit.malformed
  }

  try {
    const events = parseHistory(text)
    const result = checkHistory(events, { maxSteps, timeBudgetMs })
    switch (result.outcome) {
      case 'linearizable':
        console.log(`linearizable: ${events.length} events`)
        return exit.linearizable
      case 'violation':
        console.log(formatViolation(result))
        return exit.violation
      case 'undecided':
        console.log(`undecided: key ${JSON.stringify(result.key)}: ${result.reason}`)
        return exit.undecided
    }
  } catch (error) {
    if (error instanceof MalformedHistoryError) {
      console.error(`lincheck: ${file}: malformed history at line ${error.line}: ${error.reason}`)
      return exit.malformed
    }
    throw error
  }
}

process.exitCode = await main(process.argv.slice(2))
