/**
 * Operating errors of the MTTF study (bad parameters, bad flags). They carry a stable `code` so
 * the CLI can map them to exit status 2 and tests can match on the code instead of the prose.
 */
export type MttfErrorCode =
  | 'ERR_MTTF_BAD_DURATION'
  | 'ERR_MTTF_BAD_PARAMS'
  | 'ERR_MTTF_BAD_FLAG'
  | 'ERR_MTTF_BAD_REAL_POINTS'

export class MttfError extends Error {
  readonly code: MttfErrorCode
  constructor (code: MttfErrorCode, message: string) {
    super(message)
    this.name = 'MttfError'
    this.code = code
  }
}
