// Block exchange (codec and scheduler).
export { EXCHANGE_CODEC_VERSION, EXCHANGE_LIMITS, decodeExchangeMessage, encodeExchangeMessage, isRequestMessage } from './exchange-codec.js'
export type { ExchangeMessage, ExchangeMessageType } from './exchange-codec.js'
export { Swarm } from './swarm.js'
export type { SwarmFailure, SwarmOptions, SwarmRequest } from './swarm.js'
