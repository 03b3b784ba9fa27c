/**
 * `vpeer cluster-init`: creates a cluster folder — one identity per member and spare, an administrator
 * identity for the client allow-list, and the cluster file that every member starts from.
 *
 * ```
 * DIR/cluster.json          the bootstrap (cluster-spec.ts)
 * DIR/admin.key             the first administrator's identity (a client)
 * DIR/m1/identity.key …     one folder per voter (its LevelDB goes in DIR/m1/db)
 * DIR/s1/identity.key …     one folder per spare
 * ```
 */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { generateIdentity, writeIdentity } from '../alm/identity.js'
import { InvalidArgumentError } from '../util/errors.js'
import type { ClusterSpec } from './cluster-spec.js'
import { validateClusterSpec } from './cluster-spec.js'

export interface InitOptions {
  readonly dir: string
  readonly group?: string
  readonly members?: number
  readonly spares?: number
  /** Listen host (default 127.0.0.1). */
  readonly host?: string
  /** First port; members and spares take consecutive ports. Default: free ports the OS picks. */
  readonly basePort?: number
}

export interface InitResult {
  readonly spec: ClusterSpec
  readonly clusterFile: string
  readonly adminKey: string
  /** Folder of each member and spare, by name (m1…, s1…), with its peer id. */
  readonly nodes: ReadonlyArray<{ readonly name: string, readonly id: string, readonly dir: string, readonly role: 'voter' | 'spare' }>
}

/** A TCP port on `host` that was free a moment ago (the OS picks it). */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

export async function initCluster (options: InitOptions): Promise<InitResult> {
  const members = options.members ?? 3
  const spares = options.spares ?? 1
  const host = options.host ?? '127.0.0.1'
  if (!Number.isSafeInteger(members) || members < 1 || members > 99) throw new InvalidArgumentError(`members must be 1-99, got ${members}`)
  if (!Number.isSafeInteger(spares) || spares < 0 || spares > 99) throw new InvalidArgumentError(`spares must be 0-99, got ${spares}`)
  if (!/^[\d.]+$|^[0-9a-f:]+$/i.test(host)) throw new InvalidArgumentError(`host must be an IP address, got ${JSON.stringify(host)}`)
  const clusterFile = join(options.dir, 'cluster.json')
  if (await exists(clusterFile)) throw new InvalidArgumentError(`${clusterFile} exists already: this folder holds a cluster (remove it to start over)`)
  await mkdir(options.dir, { recursive: true })
  const ip = host.includes(':') ? 'ip6' : 'ip4'
  const nodes: Array<{ name: string, id: string, dir: string, role: 'voter' | 'spare' }> = []
  const addresses: Record<string, string[]> = {}
  const names = [...Array.from({ length: members }, (_, i) => `m${i + 1}`), ...Array.from({ length: spares }, (_, i) => `s${i + 1}`)]
  for (const [i, name] of names.entries()) {
    const dir = join(options.dir, name)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const identity = await generateIdentity()
    await writeIdentity(join(dir, 'identity.key'), identity)
    const port = options.basePort !== undefined ? options.basePort + i : await freePort(host)
    addresses[identity.id] = [`/${ip}/${host}/tcp/${port}`]
    nodes.push({ name, id: identity.id, dir, role: i < members ? 'voter' : 'spare' })
  }
  const admin = await generateIdentity()
  const adminKey = join(options.dir, 'admin.key')
  await writeIdentity(adminKey, admin)
  const spec = validateClusterSpec({
    version: 1,
    group: options.group ?? 'vpeer',
    voters: nodes.filter(n => n.role === 'voter').map(n => n.id),
    spares: nodes.filter(n => n.role === 'spare').map(n => n.id),
    admins: [admin.id],
    addresses
  })
  await writeFile(clusterFile, JSON.stringify(spec, null, 2) + '\n')
  return { spec, clusterFile, adminKey, nodes }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
