/**
 * The README's commands, for the tests that run them as written (quickstart.test.ts, demo.test.ts):
 * a README change that breaks a command then breaks a test.
 */

/** The fenced ```sh blocks of the README section titled `title`, each as its command lines (comments and blanks dropped). */
export function readmeBlocks (readme: string, title: string): string[][] {
  const start = readme.indexOf(`\n## ${title}\n`)
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`)
  const rest = readme.slice(start + title.length + 5)
  const end = rest.search(/\n## /)
  const section = end < 0 ? rest : rest.slice(0, end)
  const blocks: string[][] = []
  for (const match of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    blocks.push((match[1] ?? '').split('\n').map(line => line.replace(/\s+#\s.*$/, '').trim()).filter(line => line !== '' && !line.startsWith('#')))
  }
  return blocks
}
