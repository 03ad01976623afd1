// Bundle the CLI (and everything it imports) into ESM files: dist/mesh.mjs, plus chunks in
// dist/chunks/ for what is imported lazily (`await import(...)`). A node process then parses one file
// instead of ~1,000 modules: start-up CPU drops from ~0.8 s to ~0.3 s, which is what lets 24 nodes
// started at once on a 2-core machine form a mesh (see README, "Measured"). Code splitting keeps what
// `mesh start` never runs (the MCP server with its SDK, zod and ajv, ~0.8 MB) out of the file every node
// parses and holds in memory: it is loaded only by `mesh mcp`.
import { rmSync } from 'node:fs'
import { build } from 'esbuild'

rmSync('dist/chunks', { recursive: true, force: true })
await build({
  entryPoints: { mesh: 'dist/src/cli/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  // [nat] @achingbrain/ssdp (UPnP, loaded only with --nat-upnp) reads its own package.json through a path
  // relative to its file at load time: leave it to node_modules rather than bundle it
  external: ['@achingbrain/ssdp'],
  // some dependencies are CommonJS and call require(): give each ESM output file one
  banner: { js: "import { createRequire as __meshCreateRequire } from 'node:module'; const require = __meshCreateRequire(import.meta.url);" }
})
