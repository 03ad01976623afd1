#!/usr/bin/env node
// Entry point of the `mesh` command. The polyfill must load before anything that imports libp2p.
// dist/mesh.mjs is the bundled CLI (npm run build); MESH_UNBUNDLED=1 runs the plain tsc output instead.
import '../dist/src/polyfill.js'
const { main } = process.env.MESH_UNBUNDLED === '1'
  ? await import('../dist/src/cli/main.js')
  : await import('../dist/mesh.mjs')
await main(process.argv)
