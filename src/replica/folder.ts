/**
 * A replicated folder on disk: the files people see, and `.vpeer/` beside them with everything
 * the node keeps (never replicated: catalog paths starting with `.vpeer` are refused everywhere).
 *
 * ```
 * FOLDER/                       the replicated files
 * FOLDER/.vpeer/identity.key    this node's libp2p key (mode 0600)
 * FOLDER/.vpeer/config.json     name, listen addresses, the group this node belongs to
 * FOLDER/.vpeer/db/             the member's LevelDB (log, snapshots)
 * FOLDER/.vpeer/chunks/         the content-addressed chunk store
 * FOLDER/.vpeer/index           what this node knows of its local copy
 * ```
 *
 * A folder starts without a group (`vpeer init`). The first `vpeer start` founds one with this
 * node as its only voter and administrator; or `vpeer join <invite>` (an invitation a member
 * printed with `vpeer invite`) makes it a learner of an existing group first.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { loadOrCreateIdentity } from '../alm/identity.js'
import type { Identity } from '../alm/identity.js'
import { parseMultiaddr } from '../alm/node-factory.js'
import type { ClusterSpec } from '../net/cluster-spec.js'
import { ClusterSpecError, validateClusterSpec } from '../net/cluster-spec.js'
import { freePort } from '../net/init.js'
import { SyncError } from '../sync/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export const STATE_DIR = '.vpeer'

/** A folder's `.vpeer/config.json` is missing, unreadable or invalid, or an invitation is. */
export class FolderConfigError extends SyncError {
  static override name = 'FolderConfigError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_FOLDER_CONFIG', options)
  }
}

export interface FolderConfig {
  readonly version: 1
  /** A name people recognise in `vpeer status` (the host name by default). */
  readonly name: string
  /** libp2p listen addresses (multiaddrs without /p2p/). */
  readonly listen: readonly string[]
  /** The group's genesis (its key derives from it); absent until founded or joined. */
  readonly group?: ClusterSpec
  /** Addresses of group members to dial at start (with /p2p/), from the invitation. */
  readonly bootstrap: readonly string[]
}

export interface FolderPaths {
  readonly root: string
  readonly state: string
  readonly identity: string
  readonly config: string
  readonly db: string
  readonly chunks: string
  readonly index: string
}

export function folderPaths (folder: string): FolderPaths {
  const root = resolve(folder)
  const state = join(root, STATE_DIR)
  return {
    root,
    state,
    identity: join(state, 'identity.key'),
    config: join(state, 'config.json'),
    db: join(state, 'db'),
    chunks: join(state, 'chunks'),
    index: join(state, 'index')
  }
}

const NAME = /^[\w.@-]{1,64}$/

/** Checks a parsed config. @throws FolderConfigError naming the first problem */
export function validateFolderConfig (raw: unknown): FolderConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FolderConfigError('the config must be a JSON object')
  const o = raw as Record<string, unknown>
  if (o.version !== 1) throw new FolderConfigError(`unknown config version ${JSON.stringify(o.version)}`)
  if (typeof o.name !== 'string' || !NAME.test(o.name)) throw new FolderConfigError('name must be 1-64 characters of [A-Za-z0-9_.@-]')
  const listen = multiaddrs(o.listen, 'listen', false)
  const bootstrap = multiaddrs(o.bootstrap ?? [], 'bootstrap', true)
  let group: ClusterSpec | undefined
  if (o.group !== undefined) {
    try {
      group = validateClusterSpec(o.group)
    } catch (error) {
      if (error instanceof ClusterSpecError) throw new FolderConfigError(`group: ${error.message}`, { cause: error })
      throw error
    }
  }
  return { version: 1, name: o.name, listen, bootstrap, ...(group !== undefined ? { group } : {}) }
}

function multiaddrs (raw: unknown, field: string, withPeer: boolean): string[] {
  if (!Array.isArray(raw) || raw.length > 64 || (!withPeer && raw.length === 0)) throw new FolderConfigError(`${field} must be a list of ${withPeer ? '0' : '1'} to 64 multiaddrs`)
  return raw.map(a => {
    if (typeof a !== 'string' || a.length > 1024) throw new FolderConfigError(`${field} holds something that is not a multiaddr`)
    try {
      const ma = parseMultiaddr(a)
      const hasPeer = ma.getComponents().some(c => c.name === 'p2p')
      if (hasPeer !== withPeer) throw new Error(withPeer ? 'must end with /p2p/<peer id>' : 'must not contain /p2p/')
      return ma.toString()
    } catch (error) {
      throw new FolderConfigError(`${field}: ${JSON.stringify(a.slice(0, 120))}: ${(error as Error).message}`, { cause: error })
    }
  })
}

export async function readFolderConfig (folder: string): Promise<FolderConfig> {
  const path = folderPaths(folder).config
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT'
    throw new FolderConfigError(missing ? `${folder} is not a vpeer folder (no ${path}); run vpeer init ${folder}` : `cannot read ${path}: ${(error as Error).message}`, { cause: error })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new FolderConfigError(`${path} is not JSON: ${(error as Error).message}`, { cause: error })
  }
  try {
    return validateFolderConfig(raw)
  } catch (error) {
    if (error instanceof FolderConfigError) throw new FolderConfigError(`${path}: ${error.message}`, { cause: error })
    throw error
  }
}

/** Writes the config atomically (temp file, then rename): a crash leaves the old or the new one. */
export async function writeFolderConfig (folder: string, config: FolderConfig): Promise<void> {
  const path = folderPaths(folder).config
  const checked = validateFolderConfig(config)
  const temp = `${path}.tmp-${process.pid}`
  await writeFile(temp, JSON.stringify(checked, null, 2) + '\n', { mode: 0o600 })
  await rename(temp, path)
}

export interface InitFolderOptions {
  readonly name?: string
  /** Listen host (default 127.0.0.1). */
  readonly host?: string
  /** Listen port (default: a free one the OS picks now, kept in the config). */
  readonly port?: number
}

/**
 * `vpeer init FOLDER`: creates the folder if needed, `.vpeer/` (mode 0700), the identity and the
 * config. Files already in the folder stay: they are published when the node first starts.
 * @throws FolderConfigError if the folder is a vpeer folder already
 */
export async function initFolder (folder: string, options: InitFolderOptions = {}): Promise<{ identity: Identity, config: FolderConfig, paths: FolderPaths }> {
  const paths = folderPaths(folder)
  if (await exists(paths.config)) throw new FolderConfigError(`${paths.root} is a vpeer folder already (${paths.config})`)
  const host = options.host ?? '127.0.0.1'
  if (!/^[\d.]+$|^[0-9a-f:]+$/i.test(host)) throw new FolderConfigError(`host must be an IP address, got ${JSON.stringify(host)}`)
  await mkdir(paths.state, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(paths.identity)
  const port = options.port ?? await freePort(host)
  const config = validateFolderConfig({
    version: 1,
    name: options.name ?? defaultName(),
    listen: [`/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${port}`],
    bootstrap: []
  })
  await writeFolderConfig(folder, config)
  return { identity, config, paths }
}

function defaultName (): string {
  const host = (process.env.HOSTNAME ?? 'node').replace(/[^\w.@-]/g, '').slice(0, 64)
  return host.length > 0 ? host : 'node'
}

/**
 * The genesis of a new group with this node as its only voter and administrator (`vpeer start`
 * on a folder that has no group yet).
 */
export function foundingGenesis (identity: Identity, config: FolderConfig, groupName = 'vpeer-sync'): ClusterSpec {
  return validateClusterSpec({ version: 1, group: groupName, voters: [identity.id], spares: [], admins: [identity.id], addresses: { [identity.id]: [...config.listen] } })
}

/**
 * An invitation: the group's genesis and where its members listen. Not a secret: the invitee
 * must be on the group's allow-list already (`vpeer invite` puts it there and adds it as a
 * learner), and everything it learns is verified against the genesis.
 */
export interface Invitation {
  readonly group: ClusterSpec
  readonly invitee: string
  readonly bootstrap: readonly string[]
}

const INVITE_PREFIX = 'vpeer-invite-1:'
const INVITE_BYTES_MAX = 64 * 1024

export function encodeInvitation (invitation: Invitation): string {
  const json = JSON.stringify({ group: invitation.group, invitee: invitation.invitee, bootstrap: invitation.bootstrap })
  return INVITE_PREFIX + Buffer.from(json, 'utf8').toString('base64url')
}

/** @throws FolderConfigError on anything that is not a well-formed invitation */
export function decodeInvitation (text: string): Invitation {
  const trimmed = text.trim()
  if (!trimmed.startsWith(INVITE_PREFIX) || trimmed.length > INVITE_BYTES_MAX) throw new FolderConfigError(`not an invitation (it starts with ${INVITE_PREFIX})`)
  const body = trimmed.slice(INVITE_PREFIX.length)
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw new FolderConfigError('the invitation is damaged (not base64url)')
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch (error) {
    throw new FolderConfigError('the invitation is damaged (not JSON)', { cause: error })
  }
  if (typeof raw !== 'object' || raw === null) throw new FolderConfigError('the invitation is damaged')
  const o = raw as Record<string, unknown>
  let group: ClusterSpec
  try {
    group = validateClusterSpec(o.group)
  } catch (error) {
    throw new FolderConfigError(`the invitation's group is invalid: ${(error as Error).message}`, { cause: error })
  }
  if (typeof o.invitee !== 'string' || o.invitee.length > 128) throw new FolderConfigError('the invitation names no invitee')
  const bootstrap = multiaddrs(o.bootstrap, 'bootstrap', true)
  return { group, invitee: o.invitee, bootstrap }
}

/**
 * `vpeer join INVITE`: records the group and its members' addresses in the folder's config.
 * @throws FolderConfigError if the invitation is for another identity, or the folder already
 *   belongs to a group
 */
export async function joinFolder (folder: string, invitationText: string): Promise<FolderConfig> {
  const paths = folderPaths(folder)
  const config = await readFolderConfig(folder)
  const invitation = decodeInvitation(invitationText)
  const identity = await loadOrCreateIdentity(paths.identity)
  if (invitation.invitee !== identity.id) throw new FolderConfigError(`this invitation is for ${invitation.invitee}, and this folder's node is ${identity.id}: ask for an invitation for ${identity.id}`)
  if (config.group !== undefined) {
    if (JSON.stringify(config.group) === JSON.stringify(invitation.group)) return config
    throw new FolderConfigError(`${paths.root} belongs to group ${config.group.group} already`)
  }
  const next: FolderConfig = { ...config, group: invitation.group, bootstrap: invitation.bootstrap }
  await writeFolderConfig(folder, next)
  return next
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
