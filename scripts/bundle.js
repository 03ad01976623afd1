// Bundle the CLI (and everything it imports) into one ESM file, dist/mesh.mjs. A node process then
// parses one file instead of ~1,000 modules: start-up CPU drops from ~0.8 s to ~0.3 s, which is what
// lets 24 nodes started at once on a 2-core machine form a mesh (see README, "Measured").
import { build } from 'esbuild'

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/mesh.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  // some dependencies are CommonJS and call require(): give the ESM bundle one
  banner: { js: "import { createRequire as __meshCreateRequire } from 'node:module'; const require = __meshCreateRequire(import.meta.url);" }
})
