import { assert } from '../../util/assert.js'
import { EntryList, isCall, opIndexOf } from './entry-list.js'
import { LinearizedSet } from './linearized-set.js'
import { mix32 } from './hash.js'
import type { Model } from './model.js'
import type { SearchOp } from './search-op.js'

/** Limits on one search. Both are optional; without them the search runs to a verdict. */
export interface SearchBudget {
  /** Loop iterations (linearization attempts plus backtracks). Deterministic, unlike time. */
  readonly maxSteps?: number
  /** Absolute deadline on the `now()` clock. */
  readonly deadlineMs?: number
  readonly now?: () => number
}

export type SearchResult =
  | { readonly outcome: 'linearizable', readonly steps: number }
  /** `blocked`: index of the operation at the latest return that no explored order could get past. */
  | { readonly outcome: 'violation', readonly blocked: number, readonly steps: number }
  | { readonly outcome: 'undecided', readonly reason: string, readonly steps: number }

interface CacheEntry<State> {
  readonly linearized: Uint32Array
  readonly state: State
}

// Reading the clock on every step would cost more than a register model step.
const clockEvery = 1024

/**
 * Wing & Gong's search with Lowe's memoisation (the approach of porcupine): walk the calls
 * that are minimal in real time, tentatively linearize one, and backtrack when a return is
 * reached before its call was linearized. A (set of linearized operations, model state) pair
 * that was already explored is never explored again: the rest of the search depends on nothing
 * else, so a second visit could only fail the same way.
 *
 * Operations with `returnAt = Infinity` are optional: each may be linearized anywhere after its
 * call, or never. The history is linearizable once every required operation is. Optional
 * operations are what make a search blow up (each one pending can double the configurations),
 * so four rules keep them in check, all sound because an optional operation that is not yet
 * linearized never constrains anything:
 * 1. At each point, required candidates are tried before optional ones.
 * 2. Optional candidates with identical inputs are interchangeable once both are callable, so
 *    only the first of each kind is tried at one point of the search.
 * 3. An optional operation o must make a difference to the operation x linearized right after
 *    it: if x steps to the same state from the state before o, the same configuration without o
 *    dominates (it can do everything this one can, and may still use o later), so x is skipped.
 *    For a register this means an optional write is only ever followed by a read of its value
 *    or a cas expecting it.
 * 4. The cache matches by inclusion on optional operations: reaching an explored (required
 *    set, state) with a superset of its optional operations linearized cannot succeed where
 *    the explored one failed, so it is pruned too.
 */
export function linearize<State, Input> (model: Model<State, Input>, ops: readonly SearchOp<Input>[], budget: SearchBudget = {}): SearchResult {
  const list = new EntryList(ops)
  const linearized = linearizedSet(ops, list)
  const cache = new Map<number, Array<CacheEntry<State>>>()
  const classOf = optionalClasses(ops, list)
  const triedBy = new Int32Array(ops.length).fill(-1)
  // The undo stack, one frame per linearized operation, as parallel arrays.
  const frameCalls: number[] = []
  const frameStates: State[] = []
  const frameBoundaries: number[] = []
  const frameLevels: number[] = []
  const maxSteps = budget.maxSteps ?? Infinity
  const deadline = budget.deadlineMs ?? Infinity
  const now = budget.now ?? (() => performance.now())
  let state = model.init()
  let steps = 0
  let furthestAt = -1
  let blocked = -1
  // `level` names the current node of the search tree, for rule 2's "tried here" marks.
  let level = 0
  let levelsUsed = 1
  // While `optionalPass`, candidates are optional calls made before `boundary`, the first
  // return still in the main list.
  let optionalPass = false
  let boundary = Infinity

  // Inserts (linearized, candidate) unless a configuration that covers it failed already;
  // true when it is new. Entries it makes redundant are dropped to keep buckets short.
  const remember = (candidate: State): boolean => {
    const { lo, hi } = linearized.hashes
    const key = ((lo ^ mix32(model.hash(candidate))) >>> 0) + (hi & 0x1fffff) * 0x100000000
    const bucket = cache.get(key)
    if (bucket === undefined) {
      cache.set(key, [{ linearized: linearized.snapshot(), state: candidate }])
      return true
    }
    for (const seen of bucket) {
      if (linearized.covers(seen.linearized) && model.equal(seen.state, candidate)) return false
    }
    const fresh = linearized.snapshot()
    let kept = 0
    for (const seen of bucket) {
      const dominated = LinearizedSet.sameRequired(seen.linearized, fresh) && LinearizedSet.optionalSubset(fresh, seen.linearized) && model.equal(seen.state, candidate)
      if (!dominated) bucket[kept++] = seen
    }
    bucket.length = kept
    bucket.push({ linearized: fresh, state: candidate })
    return true
  }

  const descend = (call: number, index: number, input: Input): boolean => {
    const result = model.step(state, input)
    if (!result.ok) return false
    const top = frameCalls.length - 1
    const previous = frameCalls[top]
    if (previous !== undefined && list.isOptional(opIndexOf(previous))) {
      const without = model.step(frameStates[top] as State, input)
      if (without.ok && model.equal(without.next, result.next)) return false
    }
    linearized.flip(index)
    if (!remember(result.next)) {
      linearized.flip(index)
      return false
    }
    frameCalls.push(call)
    frameStates.push(state)
    frameBoundaries.push(boundary)
    frameLevels.push(level)
    level = levelsUsed++
    state = result.next
    list.lift(call)
    return true
  }

  let entry = list.first()
  for (;;) {
    steps++
    if (steps > maxSteps) {
      return { outcome: 'undecided', reason: `search step budget of ${maxSteps} exhausted`, steps: steps - 1 }
    }
    if (steps % clockEvery === 0 && now() > deadline) {
      return { outcome: 'undecided', reason: 'time budget exhausted', steps }
    }
    if (!optionalPass) {
      // Every required call is followed by its return, so the main scan only runs off the
      // end when no required operation is left.
      if (entry === -1) return { outcome: 'linearizable', steps }
      const index = opIndexOf(entry)
      const op = ops[index]
      assert(op !== undefined, () => `entry ${entry} has no operation`)
      if (isCall(entry)) {
        entry = descend(entry, index, op.input) ? list.first() : list.next[entry] ?? -1
        continue
      }
      if (op.returnAt > furthestAt) {
        furthestAt = op.returnAt
        blocked = index
      }
      optionalPass = true
      boundary = op.returnAt
      entry = list.firstOptional()
      continue
    }
    if (entry !== -1) {
      const index = opIndexOf(entry)
      const op = ops[index]
      assert(op !== undefined, () => `entry ${entry} has no operation`)
      if (op.callAt < boundary) {
        const kind = classOf[index] ?? index
        if (triedBy[kind] !== level) {
          triedBy[kind] = level
          if (descend(entry, index, op.input)) {
            optionalPass = false
            entry = list.first()
            continue
          }
        }
        entry = list.next[entry] ?? -1
        continue
      }
    }
    const call = frameCalls.pop()
    if (call === undefined) return { outcome: 'violation', blocked, steps }
    state = frameStates.pop() as State
    boundary = frameBoundaries.pop() ?? Infinity
    level = frameLevels.pop() ?? 0
    const index = opIndexOf(call)
    linearized.flip(index)
    list.unlift(call)
    optionalPass = list.isOptional(index)
    // Descendants may have overwritten this level's mark for the kind just undone.
    if (optionalPass) triedBy[classOf[index] ?? index] = level
    entry = list.next[call] ?? -1
  }
}

function linearizedSet (ops: readonly SearchOp<unknown>[], list: EntryList): LinearizedSet {
  const indexes = ops.map((_, index) => index)
  const required = indexes.filter((index) => !list.isOptional(index))
  const optional = indexes.filter((index) => list.isOptional(index))
  required.sort((a, b) => ((ops[a]?.callAt ?? 0) - (ops[b]?.callAt ?? 0)) || (a - b))
  return new LinearizedSet([...required, ...optional], required.length)
}

/** For each optional operation, the index of the first optional operation with the same input. */
function optionalClasses (ops: readonly SearchOp<unknown>[], list: EntryList): Int32Array {
  const classOf = new Int32Array(ops.length).fill(-1)
  const firstByInput = new Map<string, number>()
  ops.forEach((op, index) => {
    if (!list.isOptional(index)) return
    // Inputs are plain data, so equal JSON means equal inputs; unequal JSON for equal inputs
    // (key order) would only cost pruning, never soundness.
    const json = JSON.stringify(op.input)
    const first = firstByInput.get(json)
    if (first === undefined) firstByInput.set(json, index)
    classOf[index] = first ?? index
  })
  return classOf
}
