import { describe, expect, it } from 'vitest'
import { COMPILE_ONLY_MARKER, readmeBlocks } from './readme-blocks.js'

describe('readmeBlocks', () => {
  it('finds ts blocks with their section and line, honours the compile-only marker, skips other languages', () => {
    const md = [
      '# Title', //                           1
      '## Using it', //                        2
      '```ts', //                              3
      "import { x } from 'vpeer'", //          4
      '```', //                                5
      '```sh', //                              6
      '# not a heading', //                    7
      '```', //                                8
      '### Details', //                        9
      COMPILE_ONLY_MARKER, //                  10
      '', //                                   11
      '```typescript', //                      12
      'const y: number = 1', //                13
      '```', //                                14
      'text', //                               15
      '```ts', //                              16
      '```' //                                 17
    ].join('\n')
    const blocks = readmeBlocks(md)
    expect(blocks.map(b => [b.line, b.section, b.file, b.run])).toEqual([
      [3, 'Using it', 'readme-L3.ts', true],
      [12, 'Details', 'readme-L12.ts', false],
      [16, 'Details', 'readme-L16.ts', true]
    ])
    expect(blocks[0]?.source).toBe("import { x } from 'vpeer'\n\nexport {}\n")
  })

  it('rejects an unterminated block', () => {
    expect(() => readmeBlocks('```ts\nconst a = 1\n')).toThrow(/line 1: unterminated/)
  })
})
