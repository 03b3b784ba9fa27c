/**
 * One operation as the search sees it. `callAt` and `returnAt` are real-time positions;
 * positions of different operations never tie, except `returnAt = Infinity`, which marks an
 * operation that may take effect at any time after its call or never (an `info` outcome).
 */
export interface SearchOp<Input> {
  readonly callAt: number
  readonly returnAt: number
  readonly input: Input
}
