export { VirtualPeer, jsonCodec } from './virtual-peer.js'
export type { CommandCodec, ApplyObserver, VirtualPeerInit, ClientSession, SubmitOptions, ReconfigureOptions, AccessChangeOptions, AllowClientOptions, EncodedCommand, StopOptions, VirtualPeerStatus, VirtualPeerEvents, VirtualPeerListener, AnyListener, ListenerOptions } from './virtual-peer.js'
export type { AbortOptions, ApplyContext, Clock, RandomSource, StateMachine, Storage, Transport } from '../contracts/index.js'
// Types the contracts and options above are written in (a Storage implementation needs SnapshotMeta).
export type { SnapshotMeta, ReceiverOptions } from '../migration/index.js'
export type { WireDropReason } from './message-validation.js'
export * from './errors.js'
export {
  AccessList, ACL_CLIENT_PREFIX, RESERVED_CLIENT_PREFIX, MAX_ACCESS_ENTRIES, MAX_ACCESS_PEER_CHARS, MAX_ACL_BODY_BYTES,
  isAccessPeerId, isAclCommand, aclClient, aclIssuer, encodeAclOp, decodeAclOp, decodeAccessState, applyAclCommand
} from './access-list.js'
export type { AccessEntry, AccessChange, AccessChangeResult, AccessRefusalReason, AccessState, AclOp, AclOutcome } from './access-list.js'
export {
  CertificateTable, CERT_CLIENT_PREFIX, CERTIFICATE_DOMAIN, MAX_CERTIFIED_LINKS, MAX_SIGNATURE_BYTES, MAX_CERTIFIED_MEMBERS,
  certificateBytes, certCommand, isCertCommand, parseCertCommand, majorityOf, decodeCertificateState
} from './certificates.js'
export type { CertificateSigner, CertifiedLink, CertificateChain, CertificateState, ConfigTuple, CertificateApply, CertificateRefusal } from './certificates.js'
export {
  Outbox, OutputStage, DEFAULT_OUTBOX_LIMITS, OUTBOX_CEILINGS, OUTPUT_CLIENT_PREFIX, OUTBOX_ACK_PREFIX, MAX_GROUP_NAME_CHARS,
  isGroupName, outboxLimits, decodeOutboxState, outputClient, outputSender, outboxAckCommand, isOutboxAck, applyOutboxAck
} from './outbox.js'
export type { OutboxLimits, OutboxEntry, OutboxState, OutboxTargetStatus, OutboxAck, OutboxAckOutcome, StagedOutput } from './outbox.js'
export { OutboxDelivery, DEFAULT_OUTBOX_DELIVERY } from './outbox-delivery.js'
export type { DeliverFn, DeliveredOutput, OutboxDeliveryOptions, OutboxDeliveryHost } from './outbox-delivery.js'
export { SessionTable } from './sessions.js'
export type { Outcome, SessionEntry } from './sessions.js'
export { DEFAULT_SESSION_TTL_MS } from './sessions.js'
export { SystemClock, ClockStoppedError } from './system-clock.js'
export type { SystemClockOptions } from './system-clock.js'
export { systemRandom } from './system-random.js'
export { LocalNetwork, LocalNetworkError } from './local-network.js'
export type { LocalNetworkOptions, LocalNetworkStats } from './local-network.js'
export { planReplacement, DEFAULT_REPLACEMENT } from './replacement.js'
export type { ReplacementPolicy, ReplacementAction } from './replacement.js'
export { SnapshotManager, encodeRuntimeBlob, decodeRuntimeBlob, DEFAULT_SNAPSHOT_EVERY_SLOTS, DEFAULT_LOG_RETENTION_SLOTS, DEFAULT_SNAPSHOT_CHUNK_BYTES } from './snapshots.js'
export type { LocalSnapshot, RuntimeSnapshotBlob, SessionEntries, SnapshotHost, SnapshotInstall, SnapshotManagerOptions } from './snapshots.js'
export { SnapshotTransfer, isSnapshotMessage } from './snapshot-transfer.js'
export type { SnapshotMessage, WireMessage, SnapshotTransferOptions, TransferStats } from './snapshot-transfer.js'
export { rankSpares } from './spare-choice.js'
export type { SpareCandidate, SpareChoice } from './spare-choice.js'
