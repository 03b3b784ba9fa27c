import { randomInt } from 'node:crypto'
import type { RandomSource } from '../paxos/index.js'
import { InvalidArgumentError } from '../util/errors.js'

// node:crypto's randomInt limit: the range max − min must be below 2⁴⁸.
const MAX_RANGE = 2 ** 48

/**
 * `RandomSource` for real deployments, drawn from the operating system's CSPRNG.
 *
 * The randomness matters for liveness: election timeouts are drawn from it, and replicas whose
 * timeouts coincide keep starting elections together and splitting the vote. Each process must
 * therefore draw differently — a fixed-seed generator started the same way on every machine
 * would hand out identical timeouts. It also makes the default client ids of `VirtualPeer`
 * unique per incarnation. The simulator injects a seeded `Prng` instead, so that a run replays
 * bit for bit from its seed.
 */
export function systemRandom (): RandomSource {
  return {
    int (minInclusive: number, maxExclusive: number): number {
      // Checked here so a bad call fails with vpeer's typed error, not a bare RangeError.
      if (!Number.isSafeInteger(minInclusive) || !Number.isSafeInteger(maxExclusive) ||
        maxExclusive <= minInclusive || maxExclusive - minInclusive >= MAX_RANGE) {
        throw new InvalidArgumentError(`int(min, max) needs safe integers with 0 < max − min < 2^48, got (${String(minInclusive)}, ${String(maxExclusive)})`)
      }
      return randomInt(minInclusive, maxExclusive)
    }
  }
}
