import { beforeAll, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { generateIdentity } from '../../../src/alm/identity.js'
import type { Identity } from '../../../src/alm/identity.js'
import {
  CHAIN_LIMITS, ConfigChainError, decodeConfigChain, encodeConfigChain, fetchVerifiedConfiguration, judgeRedirect, verifyConfigChain, verifyPeerSignature
} from '../../../src/net/config-chain.js'
import type { ChainGenesis, ConfigChainPage, VerifiedConfiguration } from '../../../src/net/config-chain.js'
import { groupKey } from '../../../src/net/group-key.js'
import { certificateBytes } from '../../../src/vpeer/certificates.js'
import type { CertifiedLink } from '../../../src/vpeer/certificates.js'
import type { Configuration } from '../../../src/paxos/index.js'

let ids: Identity[]
let genesis: ChainGenesis
let key: CID
const byId = (id: string): Identity => ids.find(i => i.id === id) as Identity
const n = (i: number): string => (ids[i] as Identity).id

/** Signs `next` after `previous` with the listed members' keys. */
async function link (previous: Configuration, next: Configuration, signers: readonly string[], context = key.bytes): Promise<CertifiedLink> {
  const bytes = certificateBytes(context, previous, next)
  return { configuration: next, signatures: await Promise.all(signers.map(async s => ({ signer: s, signature: await byId(s).privateKey.sign(bytes) }))) }
}

/** Genesis {0,1,2} → +learner 3 → replace 2 by 3 → +learner 4: each signed by a majority of the previous voters. */
async function validChain (): Promise<ConfigChainPage> {
  const c0: Configuration = { epoch: 0, voters: [n(0), n(1), n(2)], learners: [] }
  const c1: Configuration = { epoch: 1, voters: [n(0), n(1), n(2)], learners: [n(3)] }
  const c2: Configuration = { epoch: 2, voters: [n(0), n(1), n(3)], learners: [] }
  const c3: Configuration = { epoch: 3, voters: [n(0), n(1), n(3)], learners: [n(4)] }
  return { genesis, base: c0, links: [await link(c0, c1, [n(0), n(1)]), await link(c1, c2, [n(1), n(2)]), await link(c2, c3, [n(3), n(0), n(1)])], more: false }
}

function codeOf (f: () => unknown): string | undefined {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigChainError)
    return (error as ConfigChainError).code
  }
  return undefined
}

/** A verify function that counts its calls (to prove limits are checked before any crypto). */
function counting (): { verify: typeof verifyPeerSignature, calls: () => number } {
  let calls = 0
  return { verify: (s, b, sig) => { calls++; return verifyPeerSignature(s, b, sig) }, calls: () => calls }
}

beforeAll(async () => {
  ids = await Promise.all(Array.from({ length: 6 }, async () => await generateIdentity()))
  genesis = { group: 'certs', voters: [n(0), n(1), n(2)], admins: [n(5)] }
  key = await groupKey(genesis)
})

describe('verifyConfigChain', () => {
  it('verifies a valid chain to its newest configuration, also after a round trip through the wire form', async () => {
    const chain = await validChain()
    const expected = { groupKey: key.toString(), epoch: 3, voters: [n(0), n(1), n(3)], learners: [n(4)] }
    expect(verifyConfigChain(key, chain)).toEqual(expected)
    expect(verifyConfigChain(key, decodeConfigChain(encodeConfigChain(chain)))).toEqual(expected)
    // The root alone is the genesis configuration.
    expect(verifyConfigChain(key, { ...chain, links: [] })).toMatchObject({ epoch: 0, voters: genesis.voters })
  })

  it('refuses a forged signature', async () => {
    const chain = await validChain()
    const sig = (chain.links[1] as CertifiedLink).signatures[0]?.signature as Uint8Array
    sig[0] = (sig[0] as number) ^ 1
    expect(codeOf(() => verifyConfigChain(key, chain))).toBe('ERR_CHAIN_SIGNATURE')
  })

  it('refuses a valid signature by a peer that was not a voter of the previous configuration', async () => {
    const chain = await validChain()
    const l1 = chain.links[0] as CertifiedLink
    // n(4) signs correctly with its own key, but it was no voter of epoch 0.
    const forged = await link(chain.base, l1.configuration, [n(0), n(4)])
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [forged, ...chain.links.slice(1)] }))).toBe('ERR_CHAIN_SIGNATURE')
  })

  it('refuses a link without a majority of the previous voters, and a signer counted twice', async () => {
    const chain = await validChain()
    const l1 = chain.links[0] as CertifiedLink
    const one = { configuration: l1.configuration, signatures: l1.signatures.slice(0, 1) }
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [one, ...chain.links.slice(1)] }))).toBe('ERR_CHAIN_QUORUM')
    const twice = { configuration: l1.configuration, signatures: [l1.signatures[0], l1.signatures[0]] as CertifiedLink['signatures'] }
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [twice, ...chain.links.slice(1)] }))).toBe('ERR_CHAIN_SIGNATURE')
  })

  it('refuses a self-made group: its genesis does not hash to the key, or its root is not the genesis voters', async () => {
    const chain = await validChain()
    // A stranger names itself a voter of a genesis of its own making.
    const fake: ChainGenesis = { ...genesis, voters: [n(4)] }
    expect(codeOf(() => verifyConfigChain(key, { ...chain, genesis: fake, base: { epoch: 0, voters: [n(4)], learners: [] }, links: [] }))).toBe('ERR_CHAIN_GENESIS')
    // The right genesis, but a root naming someone else.
    expect(codeOf(() => verifyConfigChain(key, { ...chain, base: { epoch: 0, voters: [n(4)], learners: [] }, links: [] }))).toBe('ERR_CHAIN_GENESIS')
    // A signature made for another group's key does not verify here.
    const otherKey = await groupKey({ ...genesis, group: 'other' })
    const elsewhere = await link(chain.base, (chain.links[0] as CertifiedLink).configuration, [n(0), n(1)], otherKey.bytes)
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [elsewhere] }))).toBe('ERR_CHAIN_SIGNATURE')
  })

  it('refuses broken links: a skipped epoch, a start that is neither the genesis nor trusted', async () => {
    const chain = await validChain()
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [chain.links[0] as CertifiedLink, chain.links[2] as CertifiedLink] }))).toBe('ERR_CHAIN_BROKEN')
    const fromTwo = { ...chain, base: (chain.links[1] as CertifiedLink).configuration, links: chain.links.slice(2) }
    expect(codeOf(() => verifyConfigChain(key, fromTwo))).toBe('ERR_CHAIN_BROKEN')
    // From a configuration the caller trusts, it verifies.
    const trusted = verifyConfigChain(key, { ...chain, links: chain.links.slice(0, 2) })
    expect(verifyConfigChain(key, fromTwo, { trusted }).epoch).toBe(3)
  })

  it('refuses a replayed older chain against a newer trusted configuration, and a fork of it', async () => {
    const chain = await validChain()
    const trusted = verifyConfigChain(key, chain)
    const old = { ...chain, links: chain.links.slice(0, 1) }
    expect(verifyConfigChain(key, old).epoch).toBe(1) // valid on its own
    expect(codeOf(() => verifyConfigChain(key, old, { trusted }))).toBe('ERR_CHAIN_STALE')
    const wrongGroup: VerifiedConfiguration = { ...trusted, groupKey: 'bafk-other' }
    expect(codeOf(() => verifyConfigChain(key, chain, { trusted: wrongGroup }))).toBe('ERR_CHAIN_GENESIS')
    const fork: VerifiedConfiguration = { ...trusted, epoch: 2, voters: [n(0), n(1), n(4)] }
    expect(codeOf(() => verifyConfigChain(key, chain, { trusted: fork }))).toBe('ERR_CHAIN_BROKEN')
    expect(verifyConfigChain(key, chain, { trusted }).epoch).toBe(3)
  })

  it('refuses oversized input before any signature is checked', async () => {
    const chain = await validChain()
    const c = counting()
    const l = chain.links[0] as CertifiedLink
    const longSig = { ...l, signatures: [{ signer: n(0), signature: new Uint8Array(CHAIN_LIMITS.signatureBytesMax + 1) }, ...l.signatures] }
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [longSig, ...chain.links.slice(1)] }, { verify: c.verify }))).toBe('ERR_CHAIN_LIMIT')
    const many = { ...chain, links: Array.from({ length: CHAIN_LIMITS.linksMax + 1 }, () => l) }
    expect(codeOf(() => verifyConfigChain(key, many, { verify: c.verify }))).toBe('ERR_CHAIN_LIMIT')
    const crowd = { ...l, configuration: { ...l.configuration, learners: Array.from({ length: CHAIN_LIMITS.membersMax }, (_, i) => `p${i}`) } }
    expect(codeOf(() => verifyConfigChain(key, { ...chain, links: [crowd] }, { verify: c.verify }))).toBe('ERR_CHAIN_LIMIT')
    expect(c.calls()).toBe(0)
    expect(() => encodeConfigChain(many)).toThrow(ConfigChainError)
  })
})

describe('the chain page wire form', () => {
  it('decodes strictly', async () => {
    const bytes = encodeConfigChain(await validChain())
    expect(codeOf(() => decodeConfigChain(Uint8Array.of(...bytes, 0)))).toBe('ERR_CHAIN_MALFORMED')
    expect(codeOf(() => decodeConfigChain(bytes.subarray(0, bytes.byteLength - 5)))).toBe('ERR_CHAIN_MALFORMED')
    expect(codeOf(() => decodeConfigChain(Uint8Array.of(2, ...bytes.subarray(1))))).toBe('ERR_CHAIN_MALFORMED')
    expect(codeOf(() => decodeConfigChain(new Uint8Array(CHAIN_LIMITS.pageBytesMax + 1)))).toBe('ERR_CHAIN_LIMIT')
    // A links count beyond the limit is refused before anything is allocated.
    const head = encodeConfigChain({ ...(await validChain()), links: [] })
    const tooMany = Uint8Array.of(...head.subarray(0, head.byteLength - 2), 0x81, 0x02, 0)
    expect(codeOf(() => decodeConfigChain(tooMany))).toBe('ERR_CHAIN_MALFORMED')
  })
})

describe('judgeRedirect', () => {
  it('trusts verified voters, asks for a refresh on a newer epoch, calls anything else forged', async () => {
    const verified = verifyConfigChain(key, await validChain())
    expect(judgeRedirect(verified, { leader: n(3), epoch: 3 })).toEqual({ kind: 'trusted' })
    expect(judgeRedirect(verified, { leader: undefined, epoch: 3 })).toEqual({ kind: 'trusted' })
    expect(judgeRedirect(verified, { leader: n(4), epoch: 4 })).toEqual({ kind: 'refresh', fromEpoch: 3 })
    // n(2) was a voter once, n(4) is a learner: neither may lead now.
    for (const leader of [n(2), n(4), n(5)]) {
      const v = judgeRedirect(verified, { leader, epoch: 3 })
      expect(v.kind).toBe('forged')
      expect(v.kind === 'forged' && v.error.code).toBe('ERR_CHAIN_REDIRECT')
    }
  })
})

describe('fetchVerifiedConfiguration', () => {
  it('pages through a chain, each page from the configuration the previous one verified', async () => {
    const chain = await validChain()
    const configs = [chain.base, ...chain.links.map(l => l.configuration)]
    const asked: number[] = []
    const request = async (fromEpoch: number): Promise<Uint8Array> => {
      asked.push(fromEpoch)
      const links = chain.links.slice(fromEpoch, fromEpoch + 1)
      return encodeConfigChain({ genesis, base: configs[fromEpoch] as Configuration, links, more: fromEpoch + 1 < chain.links.length })
    }
    expect(await fetchVerifiedConfiguration({ groupKey: key, request })).toMatchObject({ epoch: 3 })
    expect(asked).toEqual([0, 1, 2])
    // A provider that answers a trusting client with an older chain is refused.
    const trusted = verifyConfigChain(key, chain)
    const replay = async (): Promise<Uint8Array> => encodeConfigChain({ ...chain, links: chain.links.slice(0, 1) })
    await expect(fetchVerifiedConfiguration({ groupKey: key, request: replay, trusted })).rejects.toMatchObject({ code: 'ERR_CHAIN_STALE' })
    await expect(fetchVerifiedConfiguration({ groupKey: key, request: replay, trusted: { ...trusted, epoch: 2, voters: configs[2]?.voters as string[], learners: [] } }))
      .rejects.toMatchObject({ code: 'ERR_CHAIN_STALE' })
  })
})
