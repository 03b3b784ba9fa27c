/**
 * A persistent (immutable) ordered map: an AVL tree with path copying. `set` and `delete` return
 * a new map that shares every untouched subtree with the old one, so keeping an old version
 * costs nothing and "freezing" the state is taking a reference to its root: O(1). That is what
 * lets the catalog hand the snapshot code a consistent view on the apply path and serialize it
 * later while applies go on (see `CatalogStateMachine.capture`).
 *
 * Cost: O(log n) time and O(log n) fresh nodes per update (≈ 17 levels at 100,000 keys), O(1)
 * `size`, in-order iteration without recursion, O(n) construction from sorted entries.
 *
 * Keys are ordered by `compare` (default: UTF-16 code-unit order, `<`), which must be a total
 * order that never changes: the catalog's order is part of its snapshot bytes.
 */

interface Node<K, V> {
  readonly key: K
  readonly value: V
  readonly left: Node<K, V> | undefined
  readonly right: Node<K, V> | undefined
  readonly height: number
  readonly size: number
}

export type Compare<K> = (a: K, b: K) => number

/** Code-unit order, the one `Array.prototype.sort` uses for strings: locale-free, identical on every host. */
export function compareCodeUnits (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const heightOf = <K, V>(n: Node<K, V> | undefined): number => n === undefined ? 0 : n.height
const sizeOf = <K, V>(n: Node<K, V> | undefined): number => n === undefined ? 0 : n.size

function make<K, V> (key: K, value: V, left: Node<K, V> | undefined, right: Node<K, V> | undefined): Node<K, V> {
  const hl = heightOf(left)
  const hr = heightOf(right)
  return { key, value, left, right, height: (hl > hr ? hl : hr) + 1, size: sizeOf(left) + sizeOf(right) + 1 }
}

/** Rebuilds a node whose children's heights differ by at most 2, restoring the AVL invariant. */
function balance<K, V> (key: K, value: V, left: Node<K, V> | undefined, right: Node<K, V> | undefined): Node<K, V> {
  const hl = heightOf(left)
  const hr = heightOf(right)
  if (hl > hr + 1) {
    const l = left as Node<K, V>
    if (heightOf(l.left) >= heightOf(l.right)) return make(l.key, l.value, l.left, make(key, value, l.right, right))
    const lr = l.right as Node<K, V>
    return make(lr.key, lr.value, make(l.key, l.value, l.left, lr.left), make(key, value, lr.right, right))
  }
  if (hr > hl + 1) {
    const r = right as Node<K, V>
    if (heightOf(r.right) >= heightOf(r.left)) return make(r.key, r.value, make(key, value, left, r.left), r.right)
    const rl = r.left as Node<K, V>
    return make(rl.key, rl.value, make(key, value, left, rl.left), make(r.key, r.value, rl.right, r.right))
  }
  return make(key, value, left, right)
}

function insert<K, V> (n: Node<K, V> | undefined, key: K, value: V, cmp: Compare<K>): Node<K, V> {
  if (n === undefined) return make(key, value, undefined, undefined)
  const c = cmp(key, n.key)
  if (c < 0) return balance(n.key, n.value, insert(n.left, key, value, cmp), n.right)
  if (c > 0) return balance(n.key, n.value, n.left, insert(n.right, key, value, cmp))
  return make(key, value, n.left, n.right)
}

function removeMin<K, V> (n: Node<K, V>): { min: Node<K, V>, rest: Node<K, V> | undefined } {
  if (n.left === undefined) return { min: n, rest: n.right }
  const { min, rest } = removeMin(n.left)
  return { min, rest: balance(n.key, n.value, rest, n.right) }
}

function remove<K, V> (n: Node<K, V> | undefined, key: K, cmp: Compare<K>): Node<K, V> | undefined {
  if (n === undefined) return undefined
  const c = cmp(key, n.key)
  if (c < 0) {
    const left = remove(n.left, key, cmp)
    return left === n.left ? n : balance(n.key, n.value, left, n.right)
  }
  if (c > 0) {
    const right = remove(n.right, key, cmp)
    return right === n.right ? n : balance(n.key, n.value, n.left, right)
  }
  if (n.left === undefined) return n.right
  if (n.right === undefined) return n.left
  const { min, rest } = removeMin(n.right)
  return balance(min.key, min.value, n.left, rest)
}

function fromSorted<K, V> (entries: ReadonlyArray<readonly [K, V]>, lo: number, hi: number): Node<K, V> | undefined {
  if (lo >= hi) return undefined
  const mid = (lo + hi) >>> 1
  const [key, value] = entries[mid] as readonly [K, V]
  return make(key, value, fromSorted(entries, lo, mid), fromSorted(entries, mid + 1, hi))
}

export class PersistentMap<K, V> {
  private constructor (private readonly root: Node<K, V> | undefined, readonly compare: Compare<K>) {}

  static empty<V> (): PersistentMap<string, V>
  static empty<K, V> (compare: Compare<K>): PersistentMap<K, V>
  static empty<K, V> (compare?: Compare<K>): PersistentMap<K, V> {
    return new PersistentMap<K, V>(undefined, compare ?? (compareCodeUnits as unknown as Compare<K>))
  }

  /**
   * A map of `entries`, which must be sorted by `compare` with no duplicate key (O(n), the
   * shape a snapshot restore has).
   * @throws RangeError when they are not strictly increasing
   */
  static fromSorted<V> (entries: ReadonlyArray<readonly [string, V]>): PersistentMap<string, V>
  static fromSorted<K, V> (entries: ReadonlyArray<readonly [K, V]>, compare: Compare<K>): PersistentMap<K, V>
  static fromSorted<K, V> (entries: ReadonlyArray<readonly [K, V]>, compare?: Compare<K>): PersistentMap<K, V> {
    const cmp = compare ?? (compareCodeUnits as unknown as Compare<K>)
    for (let i = 1; i < entries.length; i++) {
      if (cmp((entries[i - 1] as readonly [K, V])[0], (entries[i] as readonly [K, V])[0]) >= 0) throw new RangeError(`keys not strictly increasing at ${i}`)
    }
    return new PersistentMap(fromSorted(entries, 0, entries.length), cmp)
  }

  get size (): number {
    return sizeOf(this.root)
  }

  get (key: K): V | undefined {
    let n = this.root
    while (n !== undefined) {
      const c = this.compare(key, n.key)
      if (c === 0) return n.value
      n = c < 0 ? n.left : n.right
    }
    return undefined
  }

  has (key: K): boolean {
    let n = this.root
    while (n !== undefined) {
      const c = this.compare(key, n.key)
      if (c === 0) return true
      n = c < 0 ? n.left : n.right
    }
    return false
  }

  /** A map with `key` bound to `value`; this one is unchanged. */
  set (key: K, value: V): PersistentMap<K, V> {
    return new PersistentMap(insert(this.root, key, value, this.compare), this.compare)
  }

  /** A map without `key` (this same map if it had none). */
  delete (key: K): PersistentMap<K, V> {
    const root = remove(this.root, key, this.compare)
    return root === this.root ? this : new PersistentMap(root, this.compare)
  }

  /**
   * Entries in key order, starting at the first key ≥ `from` (> `from` with `exclusive`), or at
   * the first key. The iterator reads the version of the map it was taken from, whatever
   * happens to later versions.
   */
  * entries (from?: { readonly key: K, readonly exclusive?: boolean }): IterableIterator<[K, V]> {
    const stack: Array<Node<K, V>> = []
    let n = this.root
    if (from === undefined) {
      while (n !== undefined) { stack.push(n); n = n.left }
    } else {
      // Descend to `from`, keeping on the stack exactly the nodes whose key still lies ahead.
      while (n !== undefined) {
        const c = this.compare(from.key, n.key)
        if (c < 0 || (c === 0 && from.exclusive !== true)) {
          stack.push(n)
          n = c === 0 ? undefined : n.left
        } else {
          n = n.right
        }
      }
    }
    while (stack.length > 0) {
      const top = stack.pop() as Node<K, V>
      yield [top.key, top.value]
      let r = top.right
      while (r !== undefined) { stack.push(r); r = r.left }
    }
  }

  [Symbol.iterator] (): IterableIterator<[K, V]> {
    return this.entries()
  }

  /** Height of the tree (tests check the AVL bound: ≤ 1.44 log2(n + 2)). */
  get height (): number {
    return heightOf(this.root)
  }
}
