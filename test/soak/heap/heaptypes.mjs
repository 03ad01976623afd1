// usage: node heaptypes.mjs A B : self size by node type (and top names) difference
import { readFileSync } from 'node:fs'
function agg (file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const f = s.snapshot.meta.node_fields, w = f.length, iT = f.indexOf('type'), iN = f.indexOf('name'), iS = f.indexOf('self_size'), types = s.snapshot.meta.node_types[0]
  const byType = new Map(), byName = new Map()
  let total = 0
  for (let i = 0; i < s.nodes.length; i += w) {
    const t = types[s.nodes[i + iT]], size = s.nodes[i + iS]
    total += size
    const a = byType.get(t) ?? { c: 0, s: 0 }; a.c++; a.s += size; byType.set(t, a)
    const name = t === 'string' || t === 'concatenated string' || t === 'sliced string' ? '(string)' : t + ':' + s.strings[s.nodes[i + iN]].slice(0, 50)
    const b = byName.get(name) ?? { c: 0, s: 0 }; b.c++; b.s += size; byName.set(name, b)
  }
  return { total, byType, byName }
}
const a = agg(process.argv[2]), b = agg(process.argv[3])
console.log(`total self ${(a.total / 1048576).toFixed(2)} -> ${(b.total / 1048576).toFixed(2)} MiB`)
for (const [t, v] of b.byType) { const o = a.byType.get(t) ?? { c: 0, s: 0 }; console.log(`  ${t.padEnd(22)} ${(o.s / 1024).toFixed(0).padStart(8)} -> ${(v.s / 1024).toFixed(0).padStart(8)} KiB  (${o.c} -> ${v.c})`) }
const rows = [...b.byName].map(([k, v]) => ({ k, ds: v.s - (a.byName.get(k)?.s ?? 0), dc: v.c - (a.byName.get(k)?.c ?? 0), c: v.c })).sort((x, y) => y.ds - x.ds)
for (const r of rows.slice(0, Number(process.argv[4] ?? 25))) console.log(`${(r.ds / 1024).toFixed(1).padStart(9)} KiB ${String(r.dc).padStart(7)} ${String(r.c).padStart(7)}  ${r.k}`)
