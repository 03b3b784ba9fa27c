/**
 * A virtual peer's group key: the CID under which its members provide themselves in the DHT.
 * It is derived from the group's genesis — its name, the bootstrap voters and the first
 * administrators, as the cluster file states them — so two groups with the same name but
 * different origins cannot collide by accident, and every member computes the same key.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CodedError } from '../util/errors.js'
import type { ClusterSpec } from './cluster-spec.js'

export class InvalidGroupKeyError extends CodedError {
  static override name = 'InvalidGroupKeyError'
  constructor (text: string, options?: { cause?: unknown }) {
    super(`not a group key: ${JSON.stringify(text.slice(0, 120))}`, 'ERR_INVALID_GROUP_KEY', options)
  }
}

/** The canonical genesis bytes a group key hashes (a version tag keeps later layouts apart). */
export function genesisBytes (spec: Pick<ClusterSpec, 'group' | 'voters' | 'admins'>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(['vpeer-group/1', spec.group, [...spec.voters], [...spec.admins]]))
}

export async function groupKey (spec: Pick<ClusterSpec, 'group' | 'voters' | 'admins'>): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(genesisBytes(spec)))
}

/** Parses a group key's string form (as `groupKey(…).toString()` prints it). */
export function parseGroupKey (text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (error) {
    throw new InvalidGroupKeyError(text, { cause: error })
  }
  if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== sha256.code) throw new InvalidGroupKeyError(text)
  return cid
}
