/**
 * The one error family of vpeer. Every operating error (a fault of the world or of the caller,
 * which callers handle) is a `CodedError` with a stable `code`, so callers can branch on the
 * code without `instanceof` across copies of the package (the js-libp2p convention). Each layer
 * derives its own base (`PaxosError`, `StorageError`, `SnapshotError`, `VirtualPeerError`, …)
 * from it. Programmer errors are `AssertionError`s (`assert.ts`) and are never caught.
 */
export interface CodedErrorOptions {
  cause?: unknown
}

export class CodedError extends Error {
  static override name = 'CodedError'
  readonly code: string

  constructor (message: string, code: string, options?: CodedErrorOptions) {
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * The caller's `AbortSignal` fired. The only abort error of vpeer: storage, runtime and
 * simulator throw this one class. Whether the operation took effect is stated where it is
 * thrown (a submit aborted after it was sent may still be applied later).
 */
export class AbortError extends CodedError {
  static override name = 'AbortError'
  constructor (message = 'the operation was aborted', options?: CodedErrorOptions) {
    super(message, 'ERR_ABORTED', options)
  }
}

/** An argument the caller passed is out of range or of the wrong shape; nothing was done. */
export class InvalidArgumentError extends CodedError {
  static override name = 'InvalidArgumentError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_INVALID_ARGUMENT', options)
  }
}

/** Throws `AbortError` (with the signal's reason as cause) if `signal` has fired. */
export function throwIfAborted (signal: AbortSignal | undefined, message?: string): void {
  if (signal?.aborted === true) throw new AbortError(message, { cause: signal.reason })
}
