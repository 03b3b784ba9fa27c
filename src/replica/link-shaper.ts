/**
 * A host's access link, emulated: one token bucket for what this node uploads and one for what
 * it downloads, shared by every stream of the block exchange, plus a fixed one-way delay. It
 * reproduces the evaluation setting of the paper (3 Mbit/s per host, 10 ms one-way) on a
 * loopback where the real link is gigabytes a second, so that "the origin uploads ≤ 2× the data
 * set" shows up as time, as it would on a real network.
 *
 * Where it acts (src/replica/exchange.ts): before a frame is written its bytes are taken from the
 * upload bucket; after a frame is read its bytes are taken from the download bucket *before* the
 * frame is handled, so a receiver that is over its rate stops reading and the sender's stream
 * backs up (backpressure, as on a saturated link); the frame is then handled `delayMs` later.
 *
 * The bucket lends: a frame larger than the bucket (a 1 MiB block, a 48 KiB burst) is taken
 * whole and leaves the bucket in debt, and the next taker waits until the debt is repaid. Over
 * any interval the bytes let through are at most rate × interval + burst, whatever the frame
 * sizes, and takers are served in the order they asked.
 */
import { AbortError } from '../util/errors.js'
import { InvalidArgumentError } from '../util/errors.js'

/** Pure token-bucket arithmetic over an injected clock (ms). */
export class TokenBucket {
  /** Tokens (bytes) now; negative while in debt. */
  private tokens: number
  private last: number

  /**
   * @param bytesPerSecond the sustained rate
   * @param burstBytes what may pass at once after a quiet period (the bucket's size)
   */
  constructor (readonly bytesPerSecond: number, readonly burstBytes: number, now: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new InvalidArgumentError(`token bucket rate must be a positive number, got ${bytesPerSecond}`)
    if (!(burstBytes >= 1) || !Number.isFinite(burstBytes)) throw new InvalidArgumentError(`token bucket burst must be at least 1 byte, got ${burstBytes}`)
    this.tokens = burstBytes
    this.last = now
  }

  /**
   * Takes `bytes` at time `now` and returns how many ms the taker must wait before sending them
   * (0: at once). The tokens are taken now either way; waiting repays the debt.
   */
  take (bytes: number, now: number): number {
    this.refill(now)
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000
  }

  /** Tokens available at `now` (negative: debt). */
  available (now: number): number {
    this.refill(now)
    return this.tokens
  }

  private refill (now: number): void {
    // A clock that steps back gives nothing and takes nothing.
    if (now > this.last) {
      this.tokens = Math.min(this.burstBytes, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
      this.last = now
    }
  }
}

export interface LinkShaperOptions {
  /** The link's rate in each direction, bits per second (3 Mbit/s in the paper's setting). */
  readonly bitsPerSecond: number
  /** One-way delay added to every frame received, ms (10 in the paper's setting). */
  readonly delayMs: number
  /** Bucket size, bytes (default: 20 ms at the rate, at least 16 KiB). */
  readonly burstBytes?: number
  /** ms clock (default `performance.now`). */
  readonly now?: () => number
}

export class LinkShaper {
  readonly upload: TokenBucket
  readonly download: TokenBucket
  readonly delayMs: number
  private readonly now: () => number

  constructor (options: LinkShaperOptions) {
    if (!(options.delayMs >= 0) || !Number.isFinite(options.delayMs)) throw new InvalidArgumentError(`link delay must be a non-negative number of ms, got ${options.delayMs}`)
    this.now = options.now ?? (() => performance.now())
    const bytesPerSecond = options.bitsPerSecond / 8
    const burst = options.burstBytes ?? Math.max(16 * 1024, bytesPerSecond * 0.02)
    const t = this.now()
    this.upload = new TokenBucket(bytesPerSecond, burst, t)
    this.download = new TokenBucket(bytesPerSecond, burst, t)
    this.delayMs = options.delayMs
  }

  /** Resolves when `bytes` may be written. */
  async beforeSend (bytes: number, signal?: AbortSignal): Promise<void> {
    await wait(this.upload.take(bytes, this.now()), signal)
  }

  /** Resolves when a frame of `bytes` that was just read may be handled (rate, not delay). */
  async afterReceive (bytes: number, signal?: AbortSignal): Promise<void> {
    await wait(this.download.take(bytes, this.now()), signal)
  }
}

async function wait (ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return
  if (signal?.aborted === true) throw new AbortError('link shaper wait aborted', { cause: signal.reason })
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(new AbortError('link shaper wait aborted', { cause: signal?.reason })) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
