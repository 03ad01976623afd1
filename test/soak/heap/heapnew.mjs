// usage: node heapnew.mjs A B [type] : objects new in B (ids not in A) grouped by their retainer path (shortest from roots, last 5 steps)
import { readFileSync } from 'node:fs'
function load (file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const m = s.snapshot.meta, nf = m.node_fields, nw = nf.length, ef = m.edge_fields, ew = ef.length
  return { s, nw, ew, nT: nf.indexOf('type'), nN: nf.indexOf('name'), nI: nf.indexOf('id'), nS: nf.indexOf('self_size'), nE: nf.indexOf('edge_count'), eT: ef.indexOf('type'), eN: ef.indexOf('name_or_index'), eTo: ef.indexOf('to_node'), nt: m.node_types[0], et: m.edge_types[0], N: s.nodes.length / nw }
}
const a = load(process.argv[2])
const old = new Set()
for (let i = 0; i < a.N; i++) old.add(a.s.nodes[i * a.nw + a.nI])
a.s = null
const h = load(process.argv[3])
const want = process.argv[4] ?? 'string'
const first = new Uint32Array(h.N + 1)
for (let i = 0, e = 0; i < h.N; i++) { first[i] = e; e += h.s.nodes[i * h.nw + h.nE] * h.ew }
first[h.N] = h.s.edges.length
const parent = new Int32Array(h.N).fill(-1), via = new Int32Array(h.N).fill(-1), q = new Uint32Array(h.N)
let hd = 0, tl = 0; q[tl++] = 0; parent[0] = 0
while (hd < tl) { const i = q[hd++]; for (let e = first[i]; e < first[i + 1]; e += h.ew) { if (h.et[h.s.edges[e + h.eT]] === 'weak') continue; const j = h.s.edges[e + h.eTo] / h.nw; if (parent[j] !== -1) continue; parent[j] = i; via[j] = e; q[tl++] = j } }
const en = e => { const t = h.et[h.s.edges[e + h.eT]], n = h.s.edges[e + h.eN]; return (t === 'element' || t === 'hidden') ? '[]' : h.s.strings[n] }
const nm = i => h.s.strings[h.s.nodes[i * h.nw + h.nN]].slice(0, 28)
const groups = new Map()
for (let i = 0; i < h.N; i++) {
  const t = h.nt[h.s.nodes[i * h.nw + h.nT]]
  if (!(want === 'string' ? t.includes('string') : t === want)) continue
  if (old.has(h.s.nodes[i * h.nw + h.nI])) continue
  const parts = []
  let j = i
  let ropes = 0
  while (j !== 0 && parent[j] !== -1 && h.nt[h.s.nodes[parent[j] * h.nw + h.nT]].includes('string')) { j = parent[j]; ropes++ }
  if (ropes > 0) parts.push(`<${ropes > 3 ? 'rope' : ropes} strings>`)
  for (let k = 0; k < 6 && j !== 0 && parent[j] !== -1; k++) { const p = parent[j]; parts.push(`${en(via[j])}(${nm(p).replace(/[0-9a-f]{16,}/g, '#')})`); j = p }
  const key = parts.reverse().join(' < ')
  const g = groups.get(key) ?? { c: 0, s: 0 }; g.c++; g.s += h.s.nodes[i * h.nw + h.nS]; groups.set(key, g)
}
const rows = [...groups].sort((x, y) => y[1].s - x[1].s)
let tot = 0; for (const [, g] of rows) tot += g.s
console.log(`new ${want}: ${(tot / 1024).toFixed(0)} KiB in ${rows.reduce((n, r) => n + r[1].c, 0)}`)
for (const [k, g] of rows.slice(0, Number(process.argv[5] ?? 25))) console.log(`${(g.s / 1024).toFixed(1).padStart(8)} KiB ${String(g.c).padStart(6)}  ${k}`)
