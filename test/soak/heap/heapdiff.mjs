// usage: node --max-old-space-size=4096 heapdiff.mjs A.heapsnapshot B.heapsnapshot [top]
// Collections (Map/Set/Array/Object backing stores) that grew between two snapshots of ONE process
// (object ids are stable across snapshots of one process), each with its shortest path from the roots.
import { readFileSync } from 'node:fs'

function load (file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const m = s.snapshot.meta
  const nf = m.node_fields, nw = nf.length, ef = m.edge_fields, ew = ef.length
  const nT = nf.indexOf('type'), nN = nf.indexOf('name'), nI = nf.indexOf('id'), nS = nf.indexOf('self_size'), nE = nf.indexOf('edge_count')
  const eT = ef.indexOf('type'), eN = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node')
  const ntypes = m.node_types[0], etypes = m.edge_types[0]
  const N = s.nodes.length / nw
  const firstEdge = new Uint32Array(N + 1)
  for (let i = 0, e = 0; i < N; i++) { firstEdge[i] = e; e += s.nodes[i * nw + nE] * ew }
  firstEdge[N] = s.edges.length
  return { s, nw, ew, nT, nN, nI, nS, eT, eN, eTo, ntypes, etypes, N, firstEdge }
}

function edgeName (h, e) {
  const t = h.etypes[h.s.edges[e + h.eT]]
  const n = h.s.edges[e + h.eN]
  return (t === 'element' || t === 'hidden') ? `[${n}]` : h.s.strings[n]
}

/** collection id -> { name, size } where size = self size of the node + its internal stores */
function collections (h) {
  const out = new Map()
  for (let i = 0; i < h.N; i++) {
    const b = i * h.nw
    const type = h.ntypes[h.s.nodes[b + h.nT]]
    if (type !== 'object') continue
    const name = h.s.strings[h.s.nodes[b + h.nN]]
    let size = h.s.nodes[b + h.nS]
    let count = 0
    for (let e = h.firstEdge[i]; e < h.firstEdge[i + 1]; e += h.ew) {
      const et = h.etypes[h.s.edges[e + h.eT]]
      const en = edgeName(h, e)
      if (et === 'internal' && (en === 'table' || en === 'elements' || en === 'properties')) size += h.s.nodes[h.s.edges[e + h.eTo] + h.nS]
      if (et === 'element' || et === 'property') count++
    }
    out.set(h.s.nodes[b + h.nI], { idx: i, name, size, count })
  }
  return out
}

function parents (h) {
  const parent = new Int32Array(h.N).fill(-1)
  const via = new Int32Array(h.N).fill(-1)
  const queue = new Uint32Array(h.N)
  let head = 0, tail = 0
  queue[tail++] = 0; parent[0] = 0
  while (head < tail) {
    const i = queue[head++]
    for (let e = h.firstEdge[i]; e < h.firstEdge[i + 1]; e += h.ew) {
      if (h.etypes[h.s.edges[e + h.eT]] === 'weak') continue
      const j = h.s.edges[e + h.eTo] / h.nw
      if (parent[j] !== -1) continue
      parent[j] = i; via[j] = e; queue[tail++] = j
    }
  }
  return { parent, via }
}

function path (h, p, idx) {
  const parts = []
  let i = idx
  for (let k = 0; k < 14 && i !== 0 && p.parent[i] !== -1; k++) {
    const name = h.s.strings[h.s.nodes[i * h.nw + h.nN]]
    parts.push(`${edgeName(h, p.via[i])}(${name.slice(0, 30)})`)
    i = p.parent[i]
  }
  return parts.reverse().join(' > ')
}

const [fa, fb, topArg] = process.argv.slice(2)
const top = Number(topArg ?? 25)
const a = load(fa)
const ca = collections(a)
a.s = null
const b = load(fb)
const cb = collections(b)
const rows = []
for (const [id, v] of cb) {
  const before = ca.get(id)
  const grew = v.size - (before?.size ?? 0)
  if (before == null) continue // only collections that existed in both (long-lived)
  if (grew > 0) rows.push({ id, v, grew, before })
}
rows.sort((x, y) => y.grew - x.grew)
const p = parents(b)
let total = 0
for (const r of rows) total += r.grew
console.log(`long-lived collections that grew: ${rows.length}, total +${(total / 1024).toFixed(0)} KiB`)
for (const r of rows.slice(0, top)) {
  console.log(`+${(r.grew / 1024).toFixed(1).padStart(8)} KiB  ${r.v.name} count ${r.before.count}->${r.v.count}  ${path(b, p, r.v.idx)}`)
}
