/**
 * Operating errors of the network layer (identity files, the libp2p node, the transport). Each
 * has a stable `code`; the wire codec's errors (`WireError`) live beside the codec.
 */
import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

/** Base class of the network layer's errors. */
export class NetError extends CodedError {
  static override name = 'NetError'
  constructor (message: string, code = 'ERR_NET', options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

/**
 * The identity key file cannot be used: unreadable, not a private key, or readable by other
 * users (a private key others can read is no identity: like ssh, we refuse rather than warn).
 * `reason` is 'permissions' | 'corrupt' | 'io'.
 */
export class IdentityFileError extends NetError {
  static override name = 'IdentityFileError'
  readonly path: string
  readonly reason: 'permissions' | 'corrupt' | 'io'
  constructor (path: string, reason: 'permissions' | 'corrupt' | 'io', detail: string, options?: CodedErrorOptions) {
    super(`identity file ${path}: ${detail}`, reason === 'permissions' ? 'ERR_IDENTITY_PERMISSIONS' : reason === 'corrupt' ? 'ERR_IDENTITY_CORRUPT' : 'ERR_IDENTITY_IO', options)
    this.path = path
    this.reason = reason
  }
}

/** A peer id string or multiaddr that does not parse. Nothing was done. */
export class InvalidAddressError extends NetError {
  static override name = 'InvalidAddressError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_INVALID_ADDRESS', options)
  }
}

/** The peer is not in any configuration this node knows: it may not speak the Paxos protocols. */
export class PeerNotAllowedError extends NetError {
  static override name = 'PeerNotAllowedError'
  readonly peer: string
  constructor (peer: string, protocol: string) {
    super(`peer ${peer} is not in a configuration this node knows; it may not speak ${protocol}`, 'ERR_PEER_NOT_ALLOWED')
    this.peer = peer
  }
}

/** A frame on a stream could not be used (too large, malformed, on the wrong protocol): the stream is closed. */
export class BadFrameError extends NetError {
  static override name = 'BadFrameError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_BAD_FRAME', options)
  }
}

/** The transport or node was stopped. */
export class NetStoppedError extends NetError {
  static override name = 'NetStoppedError'
  constructor (message = 'the network node was stopped') {
    super(message, 'ERR_NET_STOPPED')
  }
}
