import type { SearchOp } from './search-op.js'

/**
 * The WGL history as doubly linked lists of entries in real-time order. Operation i owns call
 * entry 2i+1 and return entry 2i+2, so `isCall(e)` is a parity test and the partner of a call is
 * `e + 1`.
 *
 * Required operations (finite return) live in the main list, headed by sentinel 0, with both
 * their call and return entries. Optional operations (`returnAt = Infinity`) live apart, as
 * call entries only, headed by sentinel 2n+1: their return would sort after everything, so it
 * never bounds a scan, and keeping their calls out of the main list means the scan for required
 * candidates does not wade through every timed-out operation of the history at every step.
 *
 * `lift` unlinks an operation and `unlift` relinks it in O(1). That only works because the
 * search lifts and unlifts in stack order (the "dancing links" invariant: an unlinked entry
 * keeps its old neighbours, which are exactly right again once everything lifted after it is back).
 */
export class EntryList {
  readonly next: Int32Array
  readonly prev: Int32Array
  readonly optionalHead: number
  private readonly optional: Uint8Array

  constructor (ops: readonly SearchOp<unknown>[]) {
    const count = 2 * ops.length + 2
    this.optionalHead = count - 1
    this.next = new Int32Array(count).fill(-1)
    this.prev = new Int32Array(count).fill(-1)
    this.optional = new Uint8Array(ops.length)
    const required: Array<{ entry: number, at: number }> = []
    const optional: Array<{ entry: number, at: number }> = []
    ops.forEach((op, index) => {
      const call = 2 * index + 1
      if (op.returnAt === Infinity) {
        this.optional[index] = 1
        optional.push({ entry: call, at: op.callAt })
      } else {
        required.push({ entry: call, at: op.callAt }, { entry: call + 1, at: op.returnAt })
      }
    })
    // Positions are distinct event indexes; the entry number breaks any tie a caller's
    // positions might still have, so the search order is always the same.
    const byTime = (a: { entry: number, at: number }, b: { entry: number, at: number }): number => (a.at - b.at) || (a.entry - b.entry)
    this.link(0, required.sort(byTime))
    this.link(this.optionalHead, optional.sort(byTime))
  }

  first (): number {
    return this.next[0] ?? -1
  }

  firstOptional (): number {
    return this.next[this.optionalHead] ?? -1
  }

  isOptional (opIndex: number): boolean {
    return this.optional[opIndex] === 1
  }

  lift (call: number): void {
    this.unlink(call)
    if (!this.isOptional(opIndexOf(call))) this.unlink(call + 1)
  }

  unlift (call: number): void {
    if (!this.isOptional(opIndexOf(call))) this.relink(call + 1)
    this.relink(call)
  }

  private link (head: number, entries: ReadonlyArray<{ entry: number }>): void {
    let previous = head
    for (const { entry } of entries) {
      this.next[previous] = entry
      this.prev[entry] = previous
      previous = entry
    }
  }

  private unlink (entry: number): void {
    const before = this.prev[entry] ?? -1
    const after = this.next[entry] ?? -1
    this.next[before] = after
    if (after !== -1) this.prev[after] = before
  }

  private relink (entry: number): void {
    const before = this.prev[entry] ?? -1
    const after = this.next[entry] ?? -1
    this.next[before] = entry
    if (after !== -1) this.prev[after] = entry
  }
}

export function isCall (entry: number): boolean {
  return (entry & 1) === 1
}

export function opIndexOf (entry: number): number {
  return (entry - 1) >> 1
}
