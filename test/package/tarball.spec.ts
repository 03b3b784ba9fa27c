import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readmeBlocks } from './readme-blocks.js'
import type { ReadmeBlock } from './readme-blocks.js'

// The package as a user gets it: `npm pack` (which builds dist/ through the `prepare` script),
// the tarball installed into a fresh project outside the repository, then
//   (a) plain `node`, no loader, runs a three-peer cluster from an .mjs file;
//   (b) the repository's own tsc checks a consumer .ts under strict user flags, our .d.ts included;
//   (c) every ```ts block of README.md compiles there too, and runs unless marked compile-only.
// README blocks import 'vpeer' / 'vpeer/sim' exactly as a user would, and resolve the way a
// user's do: through the installed package's `exports`. (Resolving them through the repo itself,
// by self-reference, would read dist/ while `npm pack` in this file rebuilds it.)

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')
/** Each README program must finish well within this (they are short demonstrations). */
const RUN_TIMEOUT_MS = 120_000

/** The flags a strict user project is likely to have; skipLibCheck off so our .d.ts are checked. */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    skipLibCheck: false,
    outDir: 'out'
  }
}

interface Exec { readonly code: number, readonly stdout: string, readonly stderr: string }

/**
 * Runs a command without a shell. NODE_OPTIONS is dropped so no loader vitest or tsx may have
 * installed reaches the child: "plain node" must mean plain node.
 */
async function exec (file: string, args: readonly string[], cwd: string, timeout = 120_000): Promise<Exec> {
  const env = { ...process.env }
  delete env['NODE_OPTIONS']
  return await new Promise(resolvePromise => {
    execFile(file, [...args], { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolvePromise({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr })
    })
  })
}

function ok (r: Exec, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

let work: string
let project: string
let packedFiles: string[]
let blocks: ReadmeBlock[]

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vpeer-package-'))
  // The project must not sit inside the repository, or Node and tsc could find the repo's own
  // node_modules (and the package by self-reference) instead of the installed tarball.
  expect(relative(REPO, work).startsWith('..')).toBe(true)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const packed = JSON.parse(ok(await exec(npm, ['pack', '--json', '--pack-destination', work], REPO), 'npm pack')) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = packed[0]
  if (tarball === undefined) throw new Error('npm pack reported no tarball')
  packedFiles = tarball.files.map(f => f.path).sort()

  project = join(work, 'project')
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'vpeer-consumer', private: true, type: 'module' }, null, 2))
  // The same @types/node the repository builds against, so the cache usually has it.
  const typesNode = JSON.parse(await readFile(join(REPO, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string }
  ok(await exec(npm, ['install', join(work, tarball.filename), `@types/node@${typesNode.version}`, '--no-audit', '--no-fund', '--prefer-offline'], project), 'npm install')

  blocks = readmeBlocks(await readFile(join(REPO, 'README.md'), 'utf8'))
  for (const b of blocks) await writeFile(join(project, b.file), b.source)
  await copyFile(join(FIXTURES, 'consumer.ts'), join(project, 'consumer.ts'))
  await copyFile(join(FIXTURES, 'cluster.mjs'), join(project, 'cluster.mjs'))
}, 180_000)

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  it('holds the built package, its sources for the maps, and nothing of the repository besides', () => {
    for (const entry of ['index', 'sim/index', 'paxos/index', 'vpeer/index']) {
      for (const ext of ['.js', '.js.map', '.d.ts', '.d.ts.map']) expect(packedFiles).toContain(`dist/${entry}${ext}`)
    }
    expect(packedFiles).toContain('src/index.ts')
    expect(packedFiles).toContain('package.json')
    expect(packedFiles).toContain('README.md')
    const top = new Set(packedFiles.map(p => p.split('/')[0]))
    expect([...top].sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json', 'src'])
    // Every emitted file comes from a source that ships (no stale output of a deleted file).
    const sources = new Set(packedFiles.filter(p => p.startsWith('src/') && p.endsWith('.ts')))
    for (const p of packedFiles.filter(f => f.startsWith('dist/') && f.endsWith('.js'))) {
      expect(sources).toContain(p.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))
    }
  })

  it('runs a three-peer cluster from plain node, no loader', async () => {
    const out = ok(await exec(process.execPath, ['cluster.mjs'], project, 60_000), 'node cluster.mjs')
    const r = JSON.parse(out) as {
      resolved: { vpeer: string, sim: string }
      entryPoints: Record<string, boolean>
      leader: string
      results: number[]
      read: number
      running: boolean[]
      timersLeft: number
    }
    const installed = join(project, 'node_modules', 'vpeer', 'dist') + sep
    expect(fileURLToPath(r.resolved.vpeer)).toBe(installed + 'index.js')
    expect(fileURLToPath(r.resolved.sim)).toBe(join(installed, 'sim', 'index.js'))
    expect(r.entryPoints).toEqual({ sim: true, paxos: true, vpeer: true })
    expect(['a', 'b', 'c']).toContain(r.leader)
    expect(r.results).toEqual([2, 5])
    expect(r.read).toBe(5)
    expect(r.running).toEqual([false, false, false])
    expect(r.timersLeft).toBe(0)
  }, 90_000)

  it('type-checks a strict consumer against the installed .d.ts (skipLibCheck off)', async () => {
    await writeFile(join(project, 'tsconfig.consumer.json'), JSON.stringify({ ...CONSUMER_TSCONFIG, files: ['consumer.ts'] }, null, 2))
    const r = await exec(process.execPath, [TSC, '-p', 'tsconfig.consumer.json', '--noEmit', '--listFilesOnly'], project)
    const files = ok(r, 'tsc --listFilesOnly').split('\n').map(f => resolve(project, f.trim()))
    const ours = files.filter(f => f.includes(`${sep}node_modules${sep}vpeer${sep}`))
    // The types came from the installed package's dist/, not from its shipped sources.
    expect(ours.length).toBeGreaterThan(20)
    for (const f of ours) expect(f).toMatch(/[/\\]node_modules[/\\]vpeer[/\\]dist[/\\].*\.d\.ts$/)
    const check = await exec(process.execPath, [TSC, '-p', 'tsconfig.consumer.json', '--noEmit'], project)
    expect(check.stdout + check.stderr).toBe('')
    expect(check.code).toBe(0)
  }, 90_000)
})

// README blocks that are documentation, not programs, carry the line
//   <!-- compile-only -->
// right above their ```ts fence: they are still compiled (under the same strict flags as any
// user project) but not run. Every other ```ts block is run with plain node and must exit 0.
describe('README.md code blocks', () => {
  it('has the "Using the library" program, and it is run', () => {
    const main = blocks.find(b => b.section === 'Using the library')
    expect(main).toBeDefined()
    expect(main?.run).toBe(true)
  })

  it('every ```ts block compiles under strict user flags against the installed package', async () => {
    expect(blocks.length).toBeGreaterThan(0)
    // Blocks that use vpeer/net load libp2p's typings, which need the DOM lib (EventInit,
    // JsonWebKey): such a project adds "DOM" to lib, as the README says. The others must
    // compile without it.
    const net = await Promise.all(blocks.map(async b => (await readFile(join(project, b.file), 'utf8')).includes("from 'vpeer/net'")))
    const groups: Array<[string, typeof blocks, string[]]> = [
      ['tsconfig.readme.json', blocks.filter((_b, i) => net[i] !== true), ['ES2023']],
      ['tsconfig.readme-net.json', blocks.filter((_b, i) => net[i] === true), ['ES2023', 'DOM']]
    ]
    for (const [name, files, lib] of groups) {
      if (files.length === 0) continue
      await writeFile(join(project, name), JSON.stringify({ ...CONSUMER_TSCONFIG, compilerOptions: { ...CONSUMER_TSCONFIG.compilerOptions, lib }, files: files.map(b => b.file) }, null, 2))
      // Errors name the file readme-L<line>.ts: the README line of the block's fence.
      const r = await exec(process.execPath, [TSC, '-p', name], project)
      expect(r.stdout + r.stderr).toBe('')
      expect(r.code).toBe(0)
    }
    expect(net.filter(x => x).length).toBeGreaterThan(0)
    for (const b of blocks.filter(x => x.run)) {
      const out = await exec(process.execPath, [join('out', b.file.replace(/\.ts$/, '.js'))], project, RUN_TIMEOUT_MS)
      if (out.code !== 0) throw new Error(`README block at line ${b.line} (${b.section}) exited ${out.code}\n${out.stdout}\n${out.stderr}`)
      expect(out.stderr).toBe('')
    }
  }, 300_000)
})

// Here rather than in a file of its own: `npm run docs` rebuilds dist/, which must not race the
// `npm pack` above (test files run in parallel, the tests of one file one after another).
describe('npm run docs', () => {
  it('generates the API reference from the doc comments, and any warning fails it', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const r = await exec(npm, ['run', '-s', 'docs'], REPO, 240_000)
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout + r.stderr).not.toMatch(/Warning:/)
    const index = await readFile(join(REPO, 'docs', 'api', 'vpeer.md'), 'utf8')
    for (const name of ['virtualpeer', 'simcluster', 'codederror', 'noquorumerror']) expect(index.toLowerCase()).toContain(name)
  }, 300_000)
})
