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
