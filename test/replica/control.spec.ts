import { mkdtemp, rm, stat } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ControlServer, controlRequest, controlSocketPath } from '../../src/replica/control.js'
import { CodedError } from '../../src/util/errors.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'vpeer-control-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

describe('control socket', () => {
  it('answers requests, keeps error codes, refuses unknown operations', async () => {
    const path = controlSocketPath(dir)
    const server = new ControlServer(path, {
      echo: async args => ({ got: args }),
      fail: async () => { throw new CodedError('no such peer', 'ERR_NO_PEER') }
    })
    await server.start()
    try {
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      expect(await controlRequest(path, dir, 'echo', { a: 1 })).toEqual({ got: { a: 1 } })
      await expect(controlRequest(path, dir, 'fail')).rejects.toMatchObject({ code: 'ERR_NO_PEER', message: 'no such peer' })
      await expect(controlRequest(path, dir, 'constructor')).rejects.toMatchObject({ code: 'ERR_CONTROL', message: expect.stringMatching(/unknown operation/) })
      // Garbage and an oversized line do not take the server down.
      await new Promise<void>(resolve => {
        const s = createConnection(path, () => { s.write('not json\n'); s.write('x'.repeat(5 * 1024 * 1024)) })
        s.on('close', () => { resolve() })
        s.on('error', () => {})
        s.resume()
      })
      expect(await controlRequest(path, dir, 'echo', {})).toEqual({ got: {} })
    } finally {
      await server.close()
    }
    await expect(controlRequest(path, dir, 'echo')).rejects.toMatchObject({ code: 'ERR_NODE_NOT_RUNNING' })
  })

  it('puts the socket of a deep folder in the temporary directory', () => {
    const deep = join(dir, 'x'.repeat(120))
    const path = controlSocketPath(deep)
    expect(path.startsWith(tmpdir())).toBe(true)
    expect(controlSocketPath(deep)).toBe(path)
  })
})
