// The metrics charts of the live page: the node's own history (GET /v1/metrics/history: one point per
// sample interval, 10 s by default, the last hour), then each new point as it is taken, from a `history`
// event on the page's event stream (/v1/topology/stream; topology.js hands its EventSource to attach()).
// Drawn with uPlot (served from the installed `uplot` package, like cytoscape: no CDN).
//
// A point is { t: end of the interval (epoch ms), d: its length (ms), g: gauges, c: counts in the
// interval } (src/api/history-routes.ts); counts become rates (c / d). The page keeps at most
// `pointsMax` points (what the node keeps), oldest dropped.
//
// window.meshCharts: the pure helpers (also run by test/unit/page-charts.test.ts, in node, where there
// is no document and nothing is drawn), and once drawn `plots` (uPlot instances by chart id), `points`,
// `updates` and `view()` (per chart: canvas size, series, data length, last x), for the tests.
/* global uPlot, ResizeObserver */
(function (root) {
  'use strict'

  /** Points kept when the node does not say (360 = one hour at 10 s). */
  var pointsMaxDefault = 360

  function finite (v) { return typeof v === 'number' && isFinite(v) }

  /** Events per second from a count over an interval of `d` ms (null: no count, or no interval). */
  function rate (count, d) {
    return finite(count) && finite(d) && d > 0 ? count / (d / 1000) : null
  }

  function gauge (p, name, scale) {
    var v = p.g == null ? null : p.g[name]
    return finite(v) ? v * (scale == null ? 1 : scale) : null
  }

  function countRate (p, name) {
    return rate(p.c == null ? null : p.c[name], p.d)
  }

  /** One well-formed point, or null (the stream and the route are ours, but a page trusts no input). */
  function validPoint (p) {
    if (p == null || typeof p !== 'object' || !finite(p.t) || !finite(p.d) || p.d < 0) return null
    var g = p.g != null && typeof p.g === 'object' ? p.g : {}
    var c = p.c != null && typeof p.c === 'object' ? p.c : {}
    return { t: p.t, d: p.d, g: g, c: c }
  }

  /**
   * `points` and `incoming` merged: sorted by time, one point per time (the newer copy wins),
   * invalid ones dropped, the newest `max` kept. Returns a new array.
   */
  function mergePoints (points, incoming, max) {
    var byTime = new Map()
    points.concat(incoming).forEach(function (p) {
      var v = validPoint(p)
      if (v != null) byTime.set(v.t, v)
    })
    var merged = Array.from(byTime.values()).sort(function (a, b) { return a.t - b.t })
    var limit = finite(max) && max > 0 ? max : pointsMaxDefault
    return merged.length > limit ? merged.slice(merged.length - limit) : merged
  }

  function fmtNumber (v) {
    if (!finite(v)) return '–'
    var a = Math.abs(v)
    if (a === 0) return '0'
    if (Number.isInteger(v)) return String(v)
    if (a >= 100) return v.toFixed(0)
    if (a >= 10) return v.toFixed(1)
    if (a >= 0.1) return v.toFixed(2)
    return v.toPrecision(2)
  }

  function fmtBytes (v) {
    if (!finite(v)) return '–'
    var units = ['B', 'kB', 'MB', 'GB']
    var i = 0
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v = v / 1000; i++ }
    return fmtNumber(v) + ' ' + units[i]
  }

  /** The charts: id, title, the y axis unit, and per series its label and how it is read from a point. */
  var specs = [
    { id: 'commits', title: 'commits/s', unit: 'commits/s', series: [
      { label: 'commits/s', read: function (p) { return countRate(p, 'decisions') } }
    ] },
    { id: 'latency', title: 'commit latency', unit: 'ms', series: [
      { label: 'p50', read: function (p) { return gauge(p, 'decision_latency_p50_seconds', 1000) } },
      { label: 'p99', read: function (p) { return gauge(p, 'decision_latency_p99_seconds', 1000) } }
    ] },
    { id: 'tasks', title: 'tasks/s (run on this node)', unit: 'tasks/s', series: [
      { label: 'completed', read: function (p) { return countRate(p, 'tasks_completed') } },
      { label: 'failed', read: function (p) { return countRate(p, 'tasks_failed') } }
    ] },
    { id: 'members', title: 'alive members', unit: 'members', integer: true, series: [
      { label: 'alive', read: function (p) { return gauge(p, 'members_alive') } }
    ] },
    { id: 'bytes', title: 'bytes in/out (all connections)', unit: 'bytes/s', bytes: true, series: [
      { label: 'in', read: function (p) { return countRate(p, 'bytes_in') } },
      { label: 'out', read: function (p) { return countRate(p, 'bytes_out') } }
    ] }
  ]

  /**
   * uPlot's data for one chart: [x (epoch seconds), one array per series]. Where the node was down
   * (an interval that starts more than one interval after the previous point) a row of nulls is put
   * in, so the line breaks instead of bridging the gap.
   */
  function chartData (points, spec) {
    var data = [[]]
    spec.series.forEach(function () { data.push([]) })
    var prev = null
    points.forEach(function (p) {
      if (prev != null && p.t - p.d > prev.t + Math.max(p.d, prev.d, 1)) {
        data[0].push((prev.t + 1) / 1000)
        for (var k = 1; k < data.length; k++) data[k].push(null)
      }
      data[0].push(p.t / 1000)
      spec.series.forEach(function (s, i) { data[i + 1].push(s.read(p)) })
      prev = p
    })
    return data
  }

  var helpers = { rate: rate, validPoint: validPoint, mergePoints: mergePoints, chartData: chartData, specs: specs, fmtNumber: fmtNumber, fmtBytes: fmtBytes, pointsMaxDefault: pointsMaxDefault }
  var api = Object.assign({ plots: {}, points: [], pointsMax: pointsMaxDefault, sampleMs: null, updates: 0 }, helpers)
  root.meshCharts = api

  // ---- drawing (in a browser only) ----
  if (typeof document === 'undefined') return

  var plotHeight = 130
  var minSpanSeconds = 60
  var figures = {}

  function cssVar (name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim()
    return v === '' ? fallback : v
  }

  function el (tag, className, text) {
    var e = document.createElement(tag)
    if (className) e.className = className
    if (text != null) e.textContent = text
    return e
  }

  function options (spec, width) {
    var fg = cssVar('--fg', '#1d2330')
    var muted = cssVar('--muted', '#6b7280')
    var line = cssVar('--line', '#e3e6ea')
    var colours = [cssVar('--chart-1', '#2f6fdb'), cssVar('--chart-2', '#d9822b')]
    var fmt = spec.bytes ? fmtBytes : fmtNumber
    var font = '11px system-ui, sans-serif'
    var axis = { stroke: muted, font: font, labelFont: font, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } }
    return {
      width: width,
      height: plotHeight,
      cursor: { drag: { x: false, y: false } },
      // the legend is ours (swatch, label, last value under the plot): uPlot's takes two rows in a small chart
      legend: { show: false },
      scales: {
        // at least the last minute, so one point (a node that just started) does not stretch the axis over years
        x: { time: true, range: xRange },
        // rates and counts start at 0; an empty or flat-zero chart still gets an axis 0..1
        y: { range: function (u, min, max) { return [0, finite(max) && max > 0 ? max * 1.1 : 1] } }
      },
      axes: [
        Object.assign({}, axis, { stroke: fg }),
        Object.assign({}, axis, { label: spec.unit, labelSize: 16, size: spec.bytes ? 62 : 48, space: 18, values: function (u, splits) { return splits.map(fmt) } },
          spec.integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] } : {})
      ],
      series: [{ label: 'time' }].concat(spec.series.map(function (s, i) {
        return { label: s.label, stroke: colours[i % colours.length], width: 1.5, points: { size: 3 }, value: function (u, v) { return fmt(v) } }
      }))
    }
  }

  function xRange (u, min, max) {
    if (!finite(min) || !finite(max)) { var now = Date.now() / 1000; return [now - minSpanSeconds, now] }
    return max - min < minSpanSeconds ? [max - minSpanSeconds, max] : [min, max]
  }

  function plotWidth (figure) {
    return Math.max(160, Math.floor(figure.clientWidth) - 2)
  }

  function build () {
    var strip = document.getElementById('charts')
    if (strip == null || typeof uPlot !== 'function') return false
    specs.forEach(function (spec) {
      var figure = el('figure', 'chart')
      figure.setAttribute('data-chart', spec.id)
      figure.appendChild(el('figcaption', null, spec.title))
      var holder = el('div', 'plot')
      figure.appendChild(holder)
      var legend = el('div', 'chart-legend')
      var values = spec.series.map(function (s, i) {
        var item = el('span', 'chart-series')
        var swatch = el('i', 'swatch')
        swatch.style.background = cssVar('--chart-' + (i + 1), i === 0 ? '#2f6fdb' : '#d9822b')
        item.appendChild(swatch)
        item.appendChild(document.createTextNode(s.label + ' '))
        var value = el('b', null, '–')
        value.setAttribute('data-series', s.label)
        item.appendChild(value)
        legend.appendChild(item)
        return value
      })
      figure.appendChild(legend)
      strip.appendChild(figure)
      figures[spec.id] = { figure: figure, values: values }
      api.plots[spec.id] = new uPlot(options(spec, plotWidth(figure)), chartData([], spec), holder)
    })
    if (typeof ResizeObserver === 'function') {
      var observer = new ResizeObserver(function () {
        specs.forEach(function (spec) {
          var u = api.plots[spec.id]
          var width = plotWidth(figures[spec.id].figure)
          if (u != null && Math.abs(u.width - width) > 1) u.setSize({ width: width, height: plotHeight })
        })
      })
      observer.observe(strip)
    }
    return true
  }

  function redraw () {
    var newest = api.points[api.points.length - 1]
    specs.forEach(function (spec) {
      var u = api.plots[spec.id]
      if (u == null) return
      u.setData(chartData(api.points, spec))
      var fmt = spec.bytes ? fmtBytes : fmtNumber
      // the title says the unit of a rate; latencies and bytes say theirs
      var suffix = spec.unit === 'ms' ? ' ms' : ''
      spec.series.forEach(function (s, i) {
        var v = newest == null ? null : s.read(newest)
        figures[spec.id].values[i].textContent = v == null ? '–' : (spec.bytes ? fmtBytes(v) + '/s' : fmt(v) + suffix)
      })
    })
    var note = document.getElementById('charts-note')
    if (note != null && api.sampleMs != null) {
      note.textContent = 'this node\'s metrics, one point per ' + fmtNumber(api.sampleMs / 1000) + ' s: ' +
        (api.points.length === 0 ? 'no sample yet (the node just started)' : api.points.length + (api.points.length === 1 ? ' point' : ' points') + ' (at most ' + api.pointsMax + ')')
    }
    api.updates++
  }

  function add (incoming) {
    api.points = mergePoints(api.points, incoming, api.pointsMax)
    redraw()
  }

  /** Load the history (the points after the newest one held, once some are). */
  function load () {
    var newest = api.points[api.points.length - 1]
    var url = '/v1/metrics/history' + (newest != null ? '?since=' + newest.t : '')
    return fetch(url, { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json() })
      .then(function (h) {
        if (finite(h.pointsMax) && h.pointsMax > 0) api.pointsMax = Math.min(h.pointsMax, 3600)
        if (finite(h.sampleMs)) api.sampleMs = h.sampleMs
        add(Array.isArray(h.points) ? h.points : [])
      })
      .catch(function (err) {
        var note = document.getElementById('charts-note')
        if (note != null) note.textContent = 'no metrics history: ' + err.message
      })
  }

  /** Take the page's event stream: each `history` event is one new point; after a reconnect, fill the gap. */
  api.attach = function (source) {
    var opened = false
    source.addEventListener('history', function (event) {
      try { add([JSON.parse(event.data)]) } catch (e) {}
    })
    source.addEventListener('open', function () {
      if (opened) load()
      opened = true
    })
  }

  /** For the tests: per chart its canvas size, series count, points and last x. */
  api.view = function () {
    return specs.map(function (spec) {
      var u = api.plots[spec.id]
      var canvas = u == null ? null : u.root.querySelector('canvas')
      return {
        id: spec.id,
        canvasWidth: canvas == null ? 0 : canvas.width,
        canvasHeight: canvas == null ? 0 : canvas.height,
        series: u == null ? 0 : u.series.length - 1,
        length: u == null ? 0 : u.data[0].length,
        lastX: u == null || u.data[0].length === 0 ? null : u.data[0][u.data[0].length - 1],
        values: u == null ? 0 : u.data.slice(1).reduce(function (n, ys) { return n + ys.filter(finite).length }, 0)
      }
    })
  }

  function start () {
    if (build()) {
      redraw()
      load()
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()
})(typeof window !== 'undefined' ? window : globalThis)
