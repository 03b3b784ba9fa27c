/**
 * The ```ts blocks of a Markdown document, for test/package/tarball.spec.ts: each becomes a
 * module `readme-L<line>.ts` (line = the README line of its opening fence, so a compile error
 * points at the block) that is compiled, and run unless the line right above the fence (blank
 * lines aside) is the marker below.
 */
export const COMPILE_ONLY_MARKER = '<!-- compile-only -->'

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number
  /** The nearest heading above the block, without its #s. */
  readonly section: string
  readonly file: string
  readonly source: string
  readonly run: boolean
}

const OPEN = /^```(ts|typescript)\s*$/
const CLOSE = /^```\s*$/
const HEADING = /^#{1,6}\s+(.*?)\s*#*\s*$/

export function readmeBlocks (markdown: string): ReadmeBlock[] {
  const lines = markdown.split(/\r?\n/)
  const blocks: ReadmeBlock[] = []
  let section = ''
  let previous = ''
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? ''
    if (/^```/.test(text) && !OPEN.test(text)) {
      // Another language's block: skip it whole, so a '#' line inside is no heading.
      const end = lines.findIndex((l, j) => j > i && CLOSE.test(l))
      i = end === -1 ? lines.length : end
      previous = ''
      continue
    }
    const heading = HEADING.exec(text)
    if (heading !== null) section = heading[1] ?? ''
    if (OPEN.test(text)) {
      const end = lines.findIndex((l, j) => j > i && CLOSE.test(l))
      if (end === -1) throw new Error(`README line ${i + 1}: unterminated code block`)
      const line = i + 1
      // `export {}` makes every block a module (top-level await, no clashes between blocks).
      const source = lines.slice(i + 1, end).join('\n') + '\n\nexport {}\n'
      blocks.push({ line, section, file: `readme-L${line}.ts`, source, run: previous.trim() !== COMPILE_ONLY_MARKER })
      i = end
      previous = ''
      continue
    }
    if (text.trim() !== '') previous = text
  }
  return blocks
}
