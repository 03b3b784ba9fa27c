/**
 * `vpeer/net`: virtual peers on real networks. `Member` runs one member process (libp2p,
 * LevelDB, the runtime, the client service); `VirtualPeerClient` reaches a group from outside;
 * `initCluster` creates a cluster folder. The libp2p adapter underneath is re-exported too.
 */
import '../util/polyfills.js'

export { Member } from './member.js'
export type { MemberOptions } from './member.js'
export { VirtualPeerClient, RemoteError, GroupUnreachableError } from './client.js'
export type { VirtualPeerClientOptions, MulticastReport } from './client.js'
export { GroupSender } from './group-sender.js'
export type { GroupSenderOptions } from './group-sender.js'
export { ClientService } from './client-service.js'
export type { ClientServiceOptions, ClientServiceStats, Notification, ServedPeer } from './client-service.js'
export { CLIENT_LIMITS, CLIENT_PROTOCOL, ClientProtocolError, decodeRequest, decodeResponse, decodeThrough, encodeRequest, encodeResponse, encodeThrough, isValidNonce } from './client-protocol.js'
export { OutputSenders, SenderUnverifiedError, requestChainPage } from './output-senders.js'
export type { OutputSendersOptions } from './output-senders.js'
export type { ClientRequest, ClientResponse, GroupView } from './client-protocol.js'
export { ClusterSpecError, bootstrapConfiguration, dialAddresses, readClusterSpec, validateClusterSpec } from './cluster-spec.js'
export type { ClusterSpec } from './cluster-spec.js'
export { freePort, initCluster } from './init.js'
export { InvalidGroupKeyError, genesisBytes, groupKey, parseGroupKey } from './group-key.js'
export type { InitOptions, InitResult } from './init.js'
export {
  CHAIN_LIMITS, ConfigChainError, decodeConfigChain, encodeConfigChain, fetchVerifiedConfiguration, judgeRedirect, libp2pCertificateSigner, verifyConfigChain, verifyPeerSignature
} from './config-chain.js'
export type { ChainGenesis, ConfigChainErrorCode, ConfigChainPage, FetchVerifiedOptions, RedirectVerdict, VerifiedConfiguration, VerifyChainOptions } from './config-chain.js'
export {
  SPARE_ERRORS, SPARE_LIMITS, SPARE_PROTOCOL, SpareAnnouncer, SparePool, SpareProbeError, SpareProtocolError, SpareService,
  decodeSpareRequest, decodeSpareResponse, effectiveUptime, encodeSpareRequest, encodeSpareResponse, findProviders, probeSpare, resolvePeer, spareKey
} from './spares.js'
export type { FoundPeer, SpareAnnouncerOptions, SpareInfo, SparePoolOptions, SpareRequest, SpareResponse, SpareServiceOptions } from './spares.js'
export { jsonPayloads } from './payload-codec.js'
export type { PayloadCodec } from './payload-codec.js'
export * from '../alm/index.js'
