/**
 * API reference of vpeer: fault-tolerant virtual peers, a Multi-Paxos group that outlives its
 * members.
 *
 * Everything at the top level is what `import { … } from 'vpeer'` offers (`vpeer/paxos` and
 * `vpeer/vpeer` are subsets of it). The `sim` namespace is the `vpeer/sim` entry point, the
 * deterministic fault-injecting simulator: `import { SimCluster } from 'vpeer/sim'`. The `net`
 * namespace is `vpeer/net`, members and clients over libp2p: `import { Member } from 'vpeer/net'`.
 *
 * @packageDocumentation
 */
export * from '../../dist/index.js';
export * as sim from '../../dist/sim/index.js';
export * as net from '../../dist/net/index.js';
