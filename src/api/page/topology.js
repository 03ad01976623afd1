// The live topology page: one EventSource on /v1/topology/stream (snapshots every second), drawn with
// cytoscape (served by this node at /assets/cytoscape.min.js: no other host is contacted).
// Everything from the network is put in the DOM with textContent, never as HTML.
// window.meshTopology exposes the last snapshot, the graph and a few helpers (used by the tests).
/* global cytoscape, EventSource */
(function () {
  'use strict'

  var colours = { alive: '#2e9d5b', suspect: '#e0a030', failed: '#d64545', left: '#8a8f98' }
  var api = {
    snapshot: null,
    updates: 0,
    live: false,
    cy: null,
    /** The state of a member as the table shows it (data-state), or null. */
    tableState: function (peerId) {
      var row = findRow(peerId)
      return row == null ? null : row.getAttribute('data-state')
    },
    /** The state of a member as the graph holds it, or null. */
    graphState: function (peerId) {
      if (api.cy == null) return null
      var node = api.cy.getElementById(peerId)
      return node.length === 0 ? null : node.data('state')
    },
    graphNodeCount: function () { return api.cy == null ? 0 : api.cy.nodes().length },
    graphEdgeCount: function () { return api.cy == null ? 0 : api.cy.edges().length }
  }
  window.meshTopology = api

  function $ (id) { return document.getElementById(id) }

  function findRow (peerId) {
    var rows = document.querySelectorAll('#members tbody tr')
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute('data-peer-id') === peerId) return rows[i]
    }
    return null
  }

  function shortId (peerId) { return peerId.length > 12 ? '…' + peerId.slice(-8) : peerId }

  function el (tag, text, className) {
    var e = document.createElement(tag)
    if (text != null) e.textContent = String(text)
    if (className != null) e.className = className
    return e
  }

  function fmtMs (ms) {
    if (ms == null) return '–'
    return ms < 10 ? ms.toFixed(2) + ' ms' : ms < 100 ? ms.toFixed(1) + ' ms' : Math.round(ms) + ' ms'
  }

  // ── graph ──────────────────────────────────────────────────────────────
  function initGraph () {
    if (typeof cytoscape !== 'function') {
      $('graph').textContent = 'the graph library did not load (/assets/cytoscape.min.js)'
      return
    }
    api.cy = cytoscape({
      container: $('graph'),
      elements: [],
      minZoom: 0.2,
      maxZoom: 3,
      wheelSensitivity: 0.3,
      style: [
        {
          selector: 'node',
          style: {
            'background-color': '#999999',
            label: 'data(label)',
            'text-wrap': 'wrap',
            'text-valign': 'bottom',
            'text-margin-y': 6,
            'font-size': 11,
            color: '#1d2330',
            width: 34,
            height: 34,
            'border-width': 1,
            'border-color': '#ffffff'
          }
        },
        { selector: 'node[state = "alive"]', style: { 'background-color': colours.alive } },
        { selector: 'node[state = "suspect"]', style: { 'background-color': colours.suspect } },
        { selector: 'node[state = "failed"]', style: { 'background-color': colours.failed } },
        { selector: 'node[state = "left"]', style: { 'background-color': colours.left } },
        { selector: 'node[?self]', style: { 'border-width': 4, 'border-color': '#1d2330', width: 44, height: 44 } },
        { selector: 'node[?primary]', style: { 'border-width': 5, 'border-style': 'double', 'border-color': '#5b3fd1' } },
        { selector: 'node[?validator]', style: { shape: 'round-rectangle' } },
        {
          selector: 'edge',
          style: {
            width: 2,
            'line-color': '#b6bcc6',
            'curve-style': 'straight',
            label: 'data(label)',
            'font-size': 9,
            color: '#4b5563',
            'text-background-color': '#ffffff',
            'text-background-opacity': 0.85,
            'text-background-padding': 2
          }
        },
        { selector: 'edge[?stale]', style: { 'line-style': 'dashed', 'line-color': '#d9a0a0' } }
      ],
      layout: { name: 'preset' }
    })
  }

  function layout () {
    var cy = api.cy
    var count = cy.nodes().length
    cy.layout({
      name: count <= 2 ? 'grid' : 'circle',
      animate: false,
      padding: 40,
      // self first, then by name: the same mesh always gets the same picture
      sort: function (a, b) {
        return (b.data('self') ? 1 : 0) - (a.data('self') ? 1 : 0) ||
          String(a.data('name')).localeCompare(String(b.data('name'))) || (a.id() < b.id() ? -1 : 1)
      }
    }).run()
    cy.fit(undefined, 40)
  }

  function updateGraph (s) {
    var cy = api.cy
    if (cy == null) return
    var changedSet = false
    var states = {}
    cy.batch(function () {
      var nodeIds = {}
      s.nodes.forEach(function (n) {
        nodeIds[n.id] = true
        states[n.id] = n.state
        var data = {
          id: n.id,
          name: n.name || shortId(n.id),
          label: (n.name || shortId(n.id)) + '\n' + n.state,
          state: n.state,
          self: n.self,
          primary: n.primary,
          validator: n.validator
        }
        var existing = cy.getElementById(n.id)
        if (existing.length === 0) {
          cy.add({ group: 'nodes', data: data })
          changedSet = true
        } else {
          existing.data(data)
        }
      })
      cy.nodes().forEach(function (node) {
        if (!nodeIds[node.id()]) { node.remove(); changedSet = true }
      })
      var edgeIds = {}
      s.edges.forEach(function (e) {
        edgeIds[e.id] = true
        var stale = states[e.source] !== 'alive' || states[e.target] !== 'alive'
        var data = { id: e.id, source: e.source, target: e.target, label: e.rttMs == null ? '' : fmtMs(e.rttMs), stale: stale }
        var existing = cy.getElementById(e.id)
        if (existing.length === 0) cy.add({ group: 'edges', data: data })
        else existing.data(data)
      })
      cy.edges().forEach(function (edge) {
        if (!edgeIds[edge.id()]) edge.remove()
      })
    })
    if (changedSet) layout()
    $('graph').setAttribute('data-node-count', String(cy.nodes().length))
    $('graph').setAttribute('data-edge-count', String(cy.edges().length))
  }

  // ── tables ─────────────────────────────────────────────────────────────
  function updateHeader (s) {
    $('network').textContent = s.network
    $('self-name').textContent = 'seen from ' + (s.name || shortId(s.self))
    var mode = $('mode')
    mode.textContent = s.partitioned ? 'read-only (partitioned)' : s.mode
    mode.className = 'badge ' + (s.mode === 'read-write' ? 'rw' : 'ro')
    $('updated').textContent = 'updated ' + new Date(s.generatedAt).toLocaleTimeString()
    var c = s.counts
    $('counts').textContent = c.alive + ' alive, ' + c.suspect + ' suspect, ' + c.failed + ' failed, ' + c.left + ' left' +
      (s.nodesOmitted > 0 ? ' (' + s.nodesOmitted + ' not shown)' : '')
  }

  function updateConsensus (s) {
    var dl = $('consensus')
    dl.textContent = ''
    var rows
    if (s.consensus == null) {
      rows = [['consensus', 'none (no genesis): eventual memory and gossip votes']]
    } else {
      var c = s.consensus
      // the engine's own words: Raft has a term, a leader, a snapshot index and voters
      var raft = c.mode === 'raft'
      rows = [
        ['engine', raft ? 'Raft' : 'pBFT'],
        ['role', c.role],
        [raft ? 'term' : 'view', c.view == null ? '–' : c.view],
        [raft ? 'leader' : 'primary', c.primary == null ? (raft ? 'none (election)' : '–') : (c.primaryName || shortId(c.primary)) + ' (' + shortId(c.primary) + ')'],
        [raft ? 'applied index' : 'committed seq', c.committedSeq == null ? '–' : c.committedSeq],
        [raft ? 'snapshot index' : 'stable seq', c.stableSeq == null ? '–' : c.stableSeq],
        ['commits/s', c.commitsPerSecond == null ? '…' : c.commitsPerSecond],
        [raft ? 'voters' : 'validators', c.validators.length]
      ]
      if (s.tasks != null) rows.push(['open tasks', s.tasks.open + (s.tasks.truncated ? '+' : '')])
    }
    rows.forEach(function (r) {
      dl.appendChild(el('dt', r[0]))
      var dd = el('dd', r[1])
      dd.setAttribute('data-field', r[0])
      dl.appendChild(dd)
    })
  }

  // [aggregate] the mesh-wide push-sum estimates
  function updateAggregates (s) {
    var dl = $('aggregates')
    dl.textContent = ''
    var a = s.aggregates
    var num = function (v, digits) { return v == null ? '–' : (Number.isInteger(v) ? String(v) : v.toFixed(digits)) }
    var rows
    if (a == null) {
      rows = [['aggregates', 'not running on this node']]
    } else {
      var caps = Object.keys(a.capabilities).map(function (k) { return k + ' ' + num(a.capabilities[k], 1) }).join(', ')
      rows = [
        ['members', num(a.count, 2)],
        ['mean utilisation', a.utilisationMean == null ? '–' : (a.utilisationMean * 100).toFixed(1) + ' %'],
        ['queued · running', num(a.queuedSum, 1) + ' · ' + num(a.runningSum, 1)],
        ['free capacity', num(a.freeSum, 1)],
        ['capabilities', caps === '' ? '–' : caps],
        ['epoch · round', a.epoch + ' · ' + a.round + (a.source === 'completed' ? ' (last completed)' : '')],
        ['error bound', a.errorBound == null ? '…' : '±' + (a.errorBound * 100).toFixed(2) + ' %']
      ]
    }
    rows.forEach(function (r) {
      dl.appendChild(el('dt', r[0]))
      var dd = el('dd', r[1])
      dd.setAttribute('data-field', r[0])
      dl.appendChild(dd)
    })
  }

  function updateMembers (s) {
    var tbody = document.querySelector('#members tbody')
    tbody.textContent = ''
    s.nodes.forEach(function (n) {
      var tr = document.createElement('tr')
      tr.setAttribute('data-peer-id', n.id)
      tr.setAttribute('data-state', n.state)
      tr.setAttribute('data-self', String(n.self))
      tr.appendChild(el('td', (n.name || '?') + (n.self ? ' (this node)' : '') + (n.primary ? ' ★' : '')))
      var peer = el('td', shortId(n.id), 'peer')
      peer.title = n.id
      tr.appendChild(peer)
      var st = el('td')
      st.appendChild(el('span', n.state, 'state ' + n.state))
      tr.appendChild(st)
      tr.appendChild(el('td', n.self ? '–' : fmtMs(n.rttMs)))
      // [reputation] score with a colour: ≥ 20 good, ≤ -20 poor, banned struck out
      var r = n.reputation
      var rep = el('td', r == null ? '–' : (r.score > 0 ? '+' : '') + (Math.round(r.score * 10) / 10) + (r.banned ? ' banned' : ''), 'reputation')
      if (r != null) rep.style.color = r.banned || r.score <= -20 ? '#b42318' : r.score >= 20 ? '#13643a' : ''
      tr.appendChild(rep)
      var load = el('td', n.load.running + '/' + n.load.capacity + ' · ' + n.load.queued + 'q · ' + Math.round(n.load.cpu * 100) + '%')
      load.title = n.load.running + ' running of ' + n.load.capacity + ', ' + n.load.queued + ' queued, host CPU ' + Math.round(n.load.cpu * 100) + '% (gossiped)'
      tr.appendChild(load)
      var tasks = el('td', n.tasks == null ? '–' : n.tasks.assigned + ' · ' + n.tasks.running)
      tasks.title = 'open tasks held in the replicated task table: assigned · running'
      tr.appendChild(tasks)
      tr.appendChild(el('td', n.capabilities.join(', ') || '–', 'caps'))
      tbody.appendChild(tr)
    })
  }

  function pick (o, keys) {
    for (var i = 0; i < keys.length; i++) {
      if (o[keys[i]] != null) return o[keys[i]]
    }
    return null
  }

  function updateMessages (s) {
    var list = $('messages')
    list.textContent = ''
    if (s.messages == null) { list.appendChild(el('li', 'messaging is not enabled on this node', 'muted')); return }
    if (s.messages.length === 0) { list.appendChild(el('li', 'no messages yet', 'muted')); return }
    s.messages.slice().reverse().forEach(function (m) {
      if (m == null || typeof m !== 'object') { list.appendChild(el('li', JSON.stringify(m))); return }
      var at = pick(m, ['at', 'time', 'timestamp', 'receivedAt', 'sentAt'])
      var from = pick(m, ['fromName', 'from', 'sender'])
      var to = pick(m, ['toName', 'to', 'recipient', 'topic'])
      var kind = pick(m, ['kind', 'type', 'direction'])
      var body = pick(m, ['text', 'body', 'payload', 'data', 'preview'])
      var parts = []
      if (at != null) {
        var d = new Date(at)
        parts.push(isNaN(d.getTime()) ? String(at) : d.toLocaleTimeString())
      }
      if (kind != null) parts.push('[' + String(kind) + ']')
      if (from != null || to != null) parts.push(shortId(String(from == null ? '?' : from)) + ' → ' + shortId(String(to == null ? '*' : to)))
      if (body != null) parts.push(typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200))
      list.appendChild(el('li', parts.length > 0 ? parts.join(' ') : JSON.stringify(m).slice(0, 300)))
    })
  }

  function apply (s) {
    api.snapshot = s
    api.updates++
    updateHeader(s)
    updateGraph(s)
    updateMembers(s)
    updateZones(s) // [zones]
    updateConsensus(s)
    updateAggregates(s)
    updateMessages(s)
    document.body.setAttribute('data-updates', String(api.updates))
  }

  // ── [zones] nodes ringed in their zone's colour (--zone), with a legend; nothing without zones ──
  // The palette is assigned in zone-label order, so the same member set gives the same colours on
  // every node's page. Nodes without a zone get no ring; with more zones than colours, colours repeat.
  var zonePalette = ['#1f77b4', '#ff7f0e', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#bcbd22', '#7f7f7f']

  function zoneColours (nodes) {
    var zones = []
    nodes.forEach(function (n) { if (n.zone != null && zones.indexOf(n.zone) < 0) zones.push(n.zone) })
    zones.sort()
    var out = {}
    zones.forEach(function (z, i) { out[z] = zonePalette[i % zonePalette.length] })
    return out
  }

  function updateZones (s) {
    var byZone = zoneColours(s.nodes)
    api.zoneColours = byZone
    var cy = api.cy
    if (cy != null) {
      cy.batch(function () {
        s.nodes.forEach(function (n) {
          var node = cy.getElementById(n.id)
          if (node.length === 0) return
          var colour = n.zone != null ? byZone[n.zone] : null
          if (node.data('zoneColour') === colour) return
          node.data('zone', n.zone)
          node.data('zoneColour', colour)
          if (colour != null) node.style({ 'underlay-color': colour, 'underlay-padding': 7, 'underlay-opacity': 0.55, 'underlay-shape': 'ellipse' })
          else node.removeStyle('underlay-color underlay-padding underlay-opacity underlay-shape')
        })
      })
    }
    s.nodes.forEach(function (n) {
      var row = findRow(n.id)
      if (row != null && n.zone != null) { row.setAttribute('data-zone', n.zone); row.title = 'zone ' + n.zone }
    })
    var legend = $('zone-legend')
    var zones = Object.keys(byZone)
    if (zones.length === 0) { if (legend != null) legend.remove(); return }
    if (legend == null) {
      legend = document.createElement('ul')
      legend.id = 'zone-legend'
      var anchor = $('legend')
      anchor.parentNode.insertBefore(legend, anchor.nextSibling)
    }
    var key = zones.join(',')
    if (legend.getAttribute('data-zones') === key) return
    legend.setAttribute('data-zones', key)
    legend.textContent = ''
    legend.appendChild(el('li', 'zones:', 'muted'))
    zones.forEach(function (z) {
      var li = el('li', '')
      var ring = el('i', '', 'zone-ring')
      ring.style.borderColor = byZone[z]
      li.appendChild(ring)
      li.appendChild(document.createTextNode(z))
      legend.appendChild(li)
    })
  }

  function setLive (state) {
    api.live = state === 'live'
    var badge = $('live')
    badge.setAttribute('data-live', state)
    badge.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'polling'
  }

  // ── data ───────────────────────────────────────────────────────────────
  function poll () {
    fetch('/v1/topology', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json() })
      .then(function (s) { apply(s); setLive('polling') })
      .catch(function () { setLive('reconnecting') })
      .then(function () { setTimeout(poll, 2000) })
  }

  function connect () {
    if (typeof EventSource !== 'function') { poll(); return }
    var source = new EventSource('/v1/topology/stream')
    source.addEventListener('snapshot', function (event) {
      var s
      try { s = JSON.parse(event.data) } catch (err) { return }
      setLive('live')
      apply(s)
    })
    // EventSource reconnects by itself (the server sends retry: 2000)
    source.addEventListener('error', function () { setLive('reconnecting') })
    if (window.meshCharts != null && typeof window.meshCharts.attach === 'function') window.meshCharts.attach(source) // [charts] history points (charts.js)
  }

  function start () {
    initGraph()
    window.addEventListener('resize', function () {
      if (api.cy != null) { api.cy.resize(); api.cy.fit(undefined, 40) }
    })
    connect()
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()
})()
