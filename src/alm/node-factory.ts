/**
 * The libp2p node every vpeer process runs: TCP, Noise (authenticates the PeerId: the access
 * checks of the transport and the client service rest on it), yamux, identify and ping under
 * vpeer's own protocol prefix. There is no public bootstrap list and no discovery: a node dials
 * exactly the peers its configuration names.
 */
import '../util/polyfills.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { InvalidAddressError } from './errors.js'

/** The prefix of every protocol vpeer speaks (`/vpeer/paxos/1.0.0`, `/vpeer/id/1.0.0`, …). */
export const PROTOCOL_PREFIX = 'vpeer'

// A type alias, not an interface: libp2p's ServiceMap constraint needs an index signature.
export type VpeerNodeServices = {
  identify: Identify
  ping: Ping
  /** The group's private DHT (`/vpeer/kad/1.0.0`), when the node was created with `dht`. */
  dht?: KadDHT
}

export type VpeerLibp2p = Libp2p<VpeerNodeServices>

export interface VpeerNodeOptions {
  readonly privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. */
  readonly listen: readonly string[]
  /**
   * Which addresses this node may dial. 'loopback' (the default when every listen address is a
   * loopback one) refuses anything but 127.0.0.0/8 and ::1, so a test or a demo can never dial
   * off the machine, whatever a peer advertises; 'any' dials what the configuration names.
   */
  readonly dial?: 'loopback' | 'any'
  /**
   * Run the private DHT (`/vpeer/kad/1.0.0`, never the public `/ipfs/kad/1.0.0`): members serve
   * it and provide their group's key; a client that knows only a group key and one bootstrap
   * address queries it ('client': it asks but serves no records).
   */
  readonly dht?: 'server' | 'client'
}

/** The DHT's protocol: a private one, so a vpeer node never joins or answers the public DHT. */
export const DHT_PROTOCOL = `/${PROTOCOL_PREFIX}/kad/1.0.0`

/** Whether `ma` is a loopback address (127.0.0.0/8 or ::1). */
export function isLoopback (ma: Multiaddr): boolean {
  const first = ma.getComponents()[0]
  if (first === undefined) return false
  if (first.name === 'ip4') return first.value?.startsWith('127.') === true
  if (first.name === 'ip6') return first.value === '::1'
  return false
}

export function parseMultiaddr (text: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (error) {
    throw new InvalidAddressError(`not a multiaddr: ${JSON.stringify(text.slice(0, 200))}`, { cause: error })
  }
}

export async function createVpeerNode (options: VpeerNodeOptions): Promise<VpeerLibp2p> {
  const listen = options.listen.map(parseMultiaddr)
  const dial = options.dial ?? (listen.every(isLoopback) ? 'loopback' : 'any')
  return await createLibp2p<VpeerNodeServices>({
    privateKey: options.privateKey,
    addresses: { listen: listen.map(ma => ma.toString()) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // All loopback peers share one IP: the default of 5 inbound connections a second from one
      // address resets restarts and reconnect storms (LIBP2P-NOTES pitfall 2).
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 256
    },
    connectionGater: {
      denyDialMultiaddr: (ma: Multiaddr) => dial === 'loopback' && !isLoopback(ma)
    },
    services: {
      identify: identify({ protocolPrefix: PROTOCOL_PREFIX }),
      ping: ping({ protocolPrefix: PROTOCOL_PREFIX }),
      ...(options.dht === undefined
        ? {}
        : {
            dht: kadDHT({
              protocol: DHT_PROTOCOL,
              // Explicit: left to itself kad-dht serves only once it sees a public address (LIBP2P-NOTES 3).
              clientMode: options.dht === 'client',
              // The default drops private and loopback addresses, so a LAN or loopback group would
              // never fill its routing tables (LIBP2P-NOTES 4). Dialing stays under the gater above.
              peerInfoMapper: passthroughMapper,
              // The first query would otherwise wait ~1 s for the initial self-query (LIBP2P-NOTES 6).
              initialQuerySelfInterval: 0
            })
          })
    }
  })
}
