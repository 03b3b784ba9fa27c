/**
 * The libp2p adapter: the node factory, persistent identities, the binary wire codec and the
 * `Transport<WireMessage>` over libp2p streams. Written against `src/contracts` only.
 */
export { createVpeerNode, isLoopback, parseMultiaddr, DHT_PROTOCOL, PROTOCOL_PREFIX } from './node-factory.js'
export type { VpeerLibp2p, VpeerNodeOptions, VpeerNodeServices } from './node-factory.js'
export { generateIdentity, identityOf, loadOrCreateIdentity, readIdentity, writeIdentity } from './identity.js'
export type { Identity } from './identity.js'
export { Libp2pTransport, PAXOS_PROTOCOL, SNAPSHOT_PROTOCOL } from './libp2p-transport.js'
export type { Libp2pTransportOptions, Libp2pTransportStats, WireCodec } from './libp2p-transport.js'
export {
  DEFAULT_FRAME_BYTES_MAX, WIRE_VERSION, WIRE_LIMITS, FrameTooLargeError, WireDecodeError, WireEncodeError, WireError,
  decodeWireMessage, encodeWireMessage, wireMessageEncodedBytes
} from './wire-codec.js'
export type { WireCodecOptions } from './wire-codec.js'
export { FrameReader, frameAll } from './frames.js'
export type { ByteList } from './frames.js'
export { FrameStream } from './frame-stream.js'
export { BadFrameError, IdentityFileError, InvalidAddressError, NetError, NetStoppedError, PeerNotAllowedError } from './errors.js'
export { errorFields, silentLogger } from './log.js'
export type { NetLogger } from './log.js'
