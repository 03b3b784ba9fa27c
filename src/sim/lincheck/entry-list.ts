import type { SearchOp } from './search-op.ts'

/**
 * The WGL history as a doubly linked list of call and return entries in real-time order.
 * Entry 0 is the head sentinel; operation i owns call entry 2i+1 and return entry 2i+2, so
 * `isCall(e)` is a parity test and the partner of a call is `e + 1`. `lift` unlinks an
 * operation and `unlift` relinks it in O(1). That only works because the search lifts and
 * unlifts in stack order (the "dancing links" invariant: an unlinked entry keeps its old
 * neighbours, which are exactly right again when everything lifted after it is back).
 */
export class EntryList {
  readonly next: Int32Array
  readonly prev: Int32Array

  constructor (ops: readonly SearchOp<unknown>[]) {
    const count = 2 * ops.length + 1
    this.next = new Int32Array(count).fill(-1)
    this.prev = new Int32Array(count).fill(-1)
    const at = (entry: number): number => {
      const op = ops[(entry - 1) >> 1]
      if (op === undefined) return -1
      return isCall(entry) ? op.callAt : op.returnAt
    }
    const order: number[] = []
    for (let entry = 1; entry < count; entry++) order.push(entry)
    // Positions are distinct event indexes except the Infinity of open-ended returns; those
    // go last, in a fixed order so the search stays deterministic.
    order.sort((a, b) => (at(a) - at(b)) || (a - b))
    let previous = 0
    for (const entry of order) {
      this.next[previous] = entry
      this.prev[entry] = previous
      previous = entry
    }
  }

  first (): number {
    return this.next[0] ?? -1
  }

  lift (call: number): void {
    this.unlink(call)
    this.unlink(call + 1)
  }

  unlift (call: number): void {
    this.relink(call + 1)
    this.relink(call)
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
