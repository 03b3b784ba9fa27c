/**
 * The replication node: ReplicaNode (a Member running the group's catalog, the block exchange,
 * the sync engine, the watcher, the control socket), the replicated folder's layout and
 * invitations, and the network parts (block exchange over libp2p, the link shaper).
 */
export { ReplicaNode } from './node.js'
export type { ReplicaNodeOptions, ReplicaStatus } from './node.js'
export { SyncEngine, SUPERSEDED, REFUSED, UNPUBLISHED, deltaOf } from './sync-engine.js'
export type { CatalogView, SyncEngineOptions, SyncEngineStatus, SyncProblem } from './sync-engine.js'
export { FolderConfigError, STATE_DIR, decodeInvitation, encodeInvitation, folderPaths, foundingGenesis, initFolder, joinFolder, readFolderConfig, validateFolderConfig, writeFolderConfig } from './folder.js'
export type { FolderConfig, FolderPaths, InitFolderOptions, Invitation } from './folder.js'
export { ControlError, ControlServer, NodeNotRunningError, controlRequest, controlSocketPath } from './control.js'
export type { ControlHandler } from './control.js'
export { BLOCK_PROTOCOL, BlockExchange, ChunksUnavailableError } from './exchange.js'
export type { BlockExchangeLimits, BlockExchangeOptions, BlockExchangeStats, FetchOptions, FetchProgress, FetchResult, PeerTraffic } from './exchange.js'
export { LinkShaper, TokenBucket } from './link-shaper.js'
export type { LinkShaperOptions } from './link-shaper.js'
