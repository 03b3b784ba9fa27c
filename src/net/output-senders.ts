/**
 * Who may deliver another VP's outputs here (VP-to-VP messages). The sending group names itself
 * by its group key; the stream's peer (authenticated by Noise) must be a voter of that group's
 * configuration as verified from its genesis (`config-chain.ts`) — so neither a stranger nor a
 * removed member of the sender can write in the sending group's name. The chain is asked of the
 * delivering peer itself, over the client protocol (`chain` is served to anyone), verified, and
 * kept per group; a leader the kept configuration does not name makes this member ask again
 * from the epoch it trusts, so a replacement of the sender's members is followed and a replay
 * of an older chain refused.
 */
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AbortOptions } from '../contracts/index.js'
import { CodedError } from '../util/errors.js'
import { FrameStream } from '../alm/frame-stream.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeResponse, encodeRequest } from './client-protocol.js'
import { fetchVerifiedConfiguration } from './config-chain.js'
import type { VerifiedConfiguration } from './config-chain.js'
import { parseGroupKey } from './group-key.js'
import { scopedSignal } from '../util/signals.js'

/** The delivering peer is not a verified voter of the group it delivers for. */
export class SenderUnverifiedError extends CodedError {
  static override name = 'SenderUnverifiedError'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_SENDER_UNVERIFIED', options)
  }
}

/** One `chain` request on a fresh client-protocol stream to `peer`: the encoded page. */
export async function requestChainPage (node: Libp2p, peer: string, fromEpoch: number, options: AbortOptions = {}): Promise<Uint8Array> {
  const stream = await node.dialProtocol(peerIdFromString(peer), CLIENT_PROTOCOL, options)
  const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
  try {
    frames.write(encodeRequest({ kind: 'chain', id: 1, fromEpoch }))
    for await (const body of frames.frames()) {
      const r = decodeResponse(body)
      if (r.kind === 'ok') return r.result
      throw new SenderUnverifiedError(`${peer} answered a chain request with ${r.kind}${r.kind === 'error' ? ` ${r.code}` : ''}`)
    }
    throw new SenderUnverifiedError(`${peer} closed the stream without a chain`)
  } finally {
    frames.abort(new Error('chain request done'))
  }
}

export interface OutputSendersOptions {
  /** Fetches a chain page of a group from the delivering peer (default: `requestChainPage` on `node`). */
  readonly fetchPage: (peer: string, fromEpoch: number, options: AbortOptions) => Promise<Uint8Array>
  /** Sending groups remembered (default 1024; the least recently verified goes first). */
  readonly groupsMax?: number
  /** How long one verification may take, ms (default 5000). */
  readonly timeoutMs?: number
}

export class OutputSenders {
  private readonly verified = new Map<string, VerifiedConfiguration>()
  private readonly inFlight = new Map<string, Promise<void>>()

  constructor (private readonly options: OutputSendersOptions) {}

  /**
   * Resolves if `peer` is a voter of `group`'s verified configuration, fetching and verifying
   * the group's chain from `peer` when the kept configuration does not name it.
   * @throws SenderUnverifiedError (also for a malformed group key or a chain that does not verify)
   */
  async check (group: string, peer: string, options: AbortOptions = {}): Promise<void> {
    if (this.verified.get(group)?.voters.includes(peer) === true) return
    let key
    try {
      key = parseGroupKey(group)
    } catch (error) {
      throw new SenderUnverifiedError(`${JSON.stringify(group.slice(0, 80))} is not a group key`, { cause: error })
    }
    // One verification per group at a time; a second delivery waits for it and checks again.
    const pending = this.inFlight.get(group)
    if (pending !== undefined) {
      await pending.catch(() => {})
      if (this.verified.get(group)?.voters.includes(peer) === true) return
    }
    const run = (async () => {
      const trusted = this.verified.get(group)
      const scope = scopedSignal([options.signal], this.options.timeoutMs ?? 5000)
      try {
        const got = await fetchVerifiedConfiguration({
          groupKey: key,
          ...(trusted !== undefined ? { trusted } : {}),
          signal: scope.signal,
          request: async (fromEpoch, o) => await this.options.fetchPage(peer, fromEpoch, o)
        })
        if (trusted === undefined || got.epoch >= trusted.epoch) this.remember(group, got)
      } finally {
        scope.dispose()
      }
    })()
    this.inFlight.set(group, run)
    try {
      await run
    } catch (error) {
      // A stale chain (ERR_CHAIN_STALE) leaves the kept configuration as it was.
      throw new SenderUnverifiedError(`the configuration chain of ${group} from ${peer} does not verify`, { cause: error })
    } finally {
      if (this.inFlight.get(group) === run) this.inFlight.delete(group)
    }
    const now = this.verified.get(group)
    if (now?.voters.includes(peer) !== true) {
      throw new SenderUnverifiedError(`${peer} is not a voter of ${group} (verified epoch ${now?.epoch ?? 'none'})`)
    }
  }

  /** The configuration verified for `group`, if any. */
  configurationOf (group: string): VerifiedConfiguration | undefined {
    return this.verified.get(group)
  }

  private remember (group: string, configuration: VerifiedConfiguration): void {
    this.verified.delete(group)
    this.verified.set(group, configuration)
    const max = this.options.groupsMax ?? 1024
    while (this.verified.size > max) this.verified.delete(this.verified.keys().next().value as string)
  }
}
