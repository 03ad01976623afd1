// usage: node heapcount.mjs SNAP : count WeakRef objects per retaining-parent name chain (2 levels)
import { readFileSync } from 'node:fs'
const s = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const m = s.snapshot.meta, nf = m.node_fields, nw = nf.length, ef = m.edge_fields, ew = ef.length
const nT = nf.indexOf('type'), nN = nf.indexOf('name'), nE = nf.indexOf('edge_count'), nS = nf.indexOf('self_size'), eT = ef.indexOf('type'), eN = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node')
const nt = m.node_types[0], et = m.edge_types[0], N = s.nodes.length / nw
let e = 0
const counts = new Map()
for (let i = 0; i < N; i++) {
  const cnt = s.nodes[i * nw + nE]
  const pname = s.strings[s.nodes[i * nw + nN]]
  for (let k = 0; k < cnt; k++, e += ew) {
    const to = s.edges[e + eTo] / nw
    if (s.strings[s.nodes[to * nw + nN]] !== 'WeakRef' || nt[s.nodes[to * nw + nT]] !== 'object') continue
    const key = `${nt[s.nodes[i * nw + nT]]}:${pname.slice(0, 40)} --${et[s.edges[e + eT]]}-->`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
}
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(v, k)
