/** A bench's `cli(argv, out, err)` run in-process: its exit code and what it wrote to each stream. */
export async function runBenchCli (
  cli: (argv: readonly string[], out: (text: string) => void, err: (text: string) => void) => Promise<number>,
  argv: readonly string[]
): Promise<{ code: number, out: string, err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await cli(argv, t => out.push(t), t => err.push(t))
  return { code, out: out.join(''), err: err.join('') }
}
