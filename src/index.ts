import './util/polyfills.ts'

export * from './paxos/index.ts'
export * from './vpeer/index.ts'
export { MemoryStorage, LevelStorage } from './storage/index.ts'
export * as storage from './storage/index.ts'
