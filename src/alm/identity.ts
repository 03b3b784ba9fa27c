/**
 * A node's persistent identity: its libp2p private key in one file, so the PeerId — the node's
 * `NodeId` in every configuration — is the same across restarts. A member that came back with a
 * new key would be a stranger to its group.
 *
 * The file holds the key in libp2p's protobuf form, mode 0600. It is created atomically (a
 * temporary file renamed into place, after an fsync), so a crash while creating it leaves either
 * no identity or a whole one. A file that other users can read is refused, as ssh refuses such
 * keys: whoever can read it can impersonate the member.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { open, readFile, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { IdentityFileError } from './errors.js'

export interface Identity {
  readonly privateKey: PrivateKey
  /** The PeerId string: this node's `NodeId`. */
  readonly id: string
}

/** Largest identity file read (an Ed25519 key is 68 bytes; RSA 4096 about 2.4 KiB). */
const IDENTITY_BYTES_MAX = 16 * 1024

export function identityOf (privateKey: PrivateKey): Identity {
  return { privateKey, id: peerIdFromPrivateKey(privateKey).toString() }
}

/** A fresh Ed25519 identity (not stored). */
export async function generateIdentity (): Promise<Identity> {
  return identityOf(await generateKeyPair('Ed25519'))
}

/**
 * Reads the identity at `path`.
 * @throws IdentityFileError when the file is missing or unreadable ('io'), readable by group or
 * others ('permissions'), or not a private key ('corrupt')
 */
export async function readIdentity (path: string): Promise<Identity> {
  let mode: number
  let size: number
  try {
    const s = await stat(path)
    mode = s.mode
    size = s.size
  } catch (error) {
    throw new IdentityFileError(path, 'io', (error as Error).message, { cause: error })
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new IdentityFileError(path, 'permissions', `mode ${(mode & 0o777).toString(8)} lets other users read the private key; run chmod 600 ${path}`)
  }
  if (size > IDENTITY_BYTES_MAX) throw new IdentityFileError(path, 'corrupt', `${size} bytes is not a private key`)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (error) {
    throw new IdentityFileError(path, 'io', (error as Error).message, { cause: error })
  }
  try {
    return identityOf(privateKeyFromProtobuf(new Uint8Array(bytes)))
  } catch (error) {
    throw new IdentityFileError(path, 'corrupt', 'not a libp2p private key', { cause: error })
  }
}

/** Writes `identity` to `path` (mode 0600, atomically); refuses to overwrite an existing file. */
export async function writeIdentity (path: string, identity: Identity): Promise<void> {
  const bytes = privateKeyToProtobuf(identity.privateKey)
  const tmp = join(dirname(path), `.${Math.random().toString(36).slice(2)}.identity.tmp`)
  try {
    const file = await open(tmp, 'wx', 0o600)
    try {
      await file.writeFile(bytes)
      await file.sync()
    } finally {
      await file.close()
    }
    // No overwrite: a second process creating the same identity at once must not replace the
    // key the first one may already be using.
    try {
      await stat(path)
      throw new IdentityFileError(path, 'io', 'already exists')
    } catch (error) {
      if (error instanceof IdentityFileError) throw error
    }
    await rename(tmp, path)
    const dir = await open(dirname(path), 'r')
    try { await dir.sync() } finally { await dir.close() }
  } catch (error) {
    await rm(tmp, { force: true })
    if (error instanceof IdentityFileError) throw error
    throw new IdentityFileError(path, 'io', (error as Error).message, { cause: error })
  }
}

/** The identity at `path`, created (Ed25519) if the file does not exist. */
export async function loadOrCreateIdentity (path: string): Promise<Identity> {
  try {
    return await readIdentity(path)
  } catch (error) {
    if (!(error instanceof IdentityFileError) || error.reason !== 'io' || !isMissing(error.cause)) throw error
  }
  const identity = await generateIdentity()
  await writeIdentity(path, identity)
  return identity
}

function isMissing (error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT'
}
