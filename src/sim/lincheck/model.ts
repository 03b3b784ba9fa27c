/**
 * A sequential specification the checker linearizes against. Models are pure: `step` must not
 * mutate `state`, because the search keeps earlier states on its undo stack and in its cache.
 */
export interface Model<State, Input> {
  readonly name: string
  init (): State
  /** `ok: false` means the operation cannot return what it returned from `state`; `next` is then ignored. */
  step (state: State, input: Input): StepResult<State>
  equal (a: State, b: State): boolean
  /** A 32-bit integer; states that are `equal` must hash the same. */
  hash (state: State): number
  /** One-line description of an input, for violation messages. */
  describe (input: Input): string
}

export interface StepResult<State> {
  readonly ok: boolean
  readonly next: State
}
