import './util/polyfills.js'

export * from './contracts/index.js'
export * from './paxos/index.js'
export * from './vpeer/index.js'
export { MemoryStorage, LevelStorage } from './storage/index.js'
export * as storage from './storage/index.js'
