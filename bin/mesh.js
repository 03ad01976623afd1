#!/usr/bin/env node
// Entry point of the `mesh` command. The polyfill must load before anything that imports libp2p.
import '../dist/src/polyfill.js'
const { main } = await import('../dist/src/cli/main.js')
await main(process.argv)
