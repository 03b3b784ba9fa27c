import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readIdentity } from '../../src/alm/identity.js'
import {
  decodeInvitation, encodeInvitation, folderPaths, foundingGenesis, initFolder, joinFolder, readFolderConfig, validateFolderConfig
} from '../../src/replica/folder.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'vpeer-folder-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

describe('replicated folder', () => {
  it('init creates .vpeer with a private identity and a config, once', async () => {
    const folder = join(dir, 'Sync')
    const { identity, config, paths } = await initFolder(folder, { name: 'laptop', port: 47123 })
    expect(config).toEqual({ version: 1, name: 'laptop', listen: ['/ip4/127.0.0.1/tcp/47123'], bootstrap: [] })
    expect((await readIdentity(paths.identity)).id).toBe(identity.id)
    expect((await stat(paths.state)).mode & 0o777).toBe(0o700)
    expect(await readFolderConfig(folder)).toEqual(config)
    await expect(initFolder(folder)).rejects.toMatchObject({ code: 'ERR_FOLDER_CONFIG', message: expect.stringMatching(/already/) })
  })

  it('refuses a damaged or hostile config with a clear error', async () => {
    await expect(readFolderConfig(join(dir, 'nothing'))).rejects.toMatchObject({ code: 'ERR_FOLDER_CONFIG', message: expect.stringMatching(/not a vpeer folder.*vpeer init/) })
    const folder = join(dir, 'f')
    await initFolder(folder, { port: 1 })
    const path = folderPaths(folder).config
    await writeFile(path, '{"version":1,')
    await expect(readFolderConfig(folder)).rejects.toMatchObject({ code: 'ERR_FOLDER_CONFIG', message: expect.stringMatching(/not JSON/) })
    for (const [bad, why] of [
      [{ version: 2 }, /version/], [{ version: 1, name: '../x', listen: ['/ip4/127.0.0.1/tcp/1'] }, /name/],
      [{ version: 1, name: 'a', listen: [] }, /listen/], [{ version: 1, name: 'a', listen: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'] }, /must not contain/],
      [{ version: 1, name: 'a', listen: ['/ip4/127.0.0.1/tcp/1'], bootstrap: ['/ip4/127.0.0.1/tcp/2'] }, /p2p/],
      [{ version: 1, name: 'a', listen: ['/ip4/127.0.0.1/tcp/1'], group: { version: 1, group: 'g', voters: [] } }, /group/]
    ] as const) {
      expect(() => validateFolderConfig(bad)).toThrow(why)
    }
  })

  it('an invitation carries the genesis to the invitee, and only to it', async () => {
    const a = await initFolder(join(dir, 'a'), { name: 'a', port: 47001 })
    const b = await initFolder(join(dir, 'b'), { name: 'b', port: 47002 })
    const group = foundingGenesis(a.identity, a.config)
    const invite = encodeInvitation({ group, invitee: b.identity.id, bootstrap: [`/ip4/127.0.0.1/tcp/47001/p2p/${a.identity.id}`] })
    expect(decodeInvitation(invite)).toEqual({ group, invitee: b.identity.id, bootstrap: [`/ip4/127.0.0.1/tcp/47001/p2p/${a.identity.id}`] })
    await expect(joinFolder(join(dir, 'a'), invite)).rejects.toMatchObject({ code: 'ERR_FOLDER_CONFIG', message: expect.stringMatching(/is for/) })
    const joined = await joinFolder(join(dir, 'b'), invite)
    expect(joined.group).toEqual(group)
    expect(await readFolderConfig(join(dir, 'b'))).toEqual(joined)
    // Joining again with the same invitation changes nothing; another group is refused.
    await joinFolder(join(dir, 'b'), invite)
    const other = encodeInvitation({ group: { ...group, group: 'other' }, invitee: b.identity.id, bootstrap: [] })
    await expect(joinFolder(join(dir, 'b'), other)).rejects.toMatchObject({ message: expect.stringMatching(/belongs to group/) })
    expect(JSON.parse(await readFile(folderPaths(join(dir, 'b')).config, 'utf8')).group.group).toBe('vpeer-sync')
  })

  it('refuses damaged invitations', () => {
    for (const text of ['', 'hello', 'vpeer-invite-1:!!!', 'vpeer-invite-1:' + Buffer.from('[1]').toString('base64url'), 'vpeer-invite-1:' + Buffer.from('{"group":{}}').toString('base64url'), 'vpeer-invite-1:' + 'A'.repeat(70000)]) {
      expect(() => decodeInvitation(text)).toThrow(expect.objectContaining({ code: 'ERR_FOLDER_CONFIG' }) as Error)
    }
  })
})
