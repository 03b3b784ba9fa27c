/** The replication node's network parts: block exchange over libp2p, the link shaper. */
export { BLOCK_PROTOCOL, BlockExchange, ChunksUnavailableError } from './exchange.js'
export type { BlockExchangeLimits, BlockExchangeOptions, BlockExchangeStats, FetchOptions, FetchProgress, FetchResult, PeerTraffic } from './exchange.js'
export { LinkShaper, TokenBucket } from './link-shaper.js'
export type { LinkShaperOptions } from './link-shaper.js'
