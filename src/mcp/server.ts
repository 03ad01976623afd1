/**
 * `mesh mcp`: a Model Context Protocol server (stdio) attached to the local node. It is a client of the
 * node's HTTP API: every tool is one or two API calls, so what an agent does through it is exactly what
 * `mesh …` commands and curl do. stdout carries the protocol; everything else goes to stderr.
 *
 * Every tool has a zod input schema (validated by the SDK: a bad call is an `isError` result naming the
 * field), and answers with its result as JSON text and as `structuredContent`. API failures become
 * `isError` results whose message says what to do; nothing a caller sends can crash the server.
 */
import { realpathSync } from 'node:fs'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type * as z from 'zod'
import type { ClientOptions } from '../cli/client.js'
import type { NodeStatus } from '../runtime/mesh-node.js'
import { readRuntimeInfo } from '../runtime/data-dir.js'
import { MeshApi, MeshApiError, explain } from './api.js'
import { LaunchError, launchNode } from './launch.js'
import { parsePrometheus } from './prometheus.js'
import { toolDescriptions, toolSchemas } from './tools.js'
import type { ToolName } from './tools.js'

export const serverName = 'mesh-coordinator'
export const serverVersion = '0.1.0'
/** Longest tool result text (JSON) handed back; beyond it the caller is told to ask for less. */
export const resultTextBytesMax = 1024 * 1024

export interface McpOptions {
  client: ClientOptions
  /** bin/mesh.js, to start a node (swarm_init). */
  meshBin: string
  log: (line: string) => void
}

type Json = Record<string, unknown>

export class ToolError extends Error {
  override readonly name = 'ToolError'
}

function seg (text: string): string {
  return encodeURIComponent(text)
}

function query (params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function success (result: Json): CallToolResult {
  const text = JSON.stringify(result, null, 2)
  if (Buffer.byteLength(text) > resultTextBytesMax) {
    return failure(`the result is ${Buffer.byteLength(text)} bytes of JSON, over ${resultTextBytesMax}: ask for less (a smaller limit, a prefix)`)
  }
  return { content: [{ type: 'text', text }], structuredContent: result }
}

function failure (message: string, extra: Json = {}): CallToolResult {
  return { content: [{ type: 'text', text: message }], structuredContent: { error: message, ...extra }, isError: true }
}

interface ConsensusView { mode?: string, role: string, n?: number, f?: number, view?: number | null, primary?: string | null, active?: boolean | null, lastExecuted?: number, stableSeq?: number | null, validators?: Array<{ peerId: string, name: string, connected: boolean }>, error?: string }
interface MembersView { peerId: string, minPeers: number, maxPeers: number, connections: number, members: Array<{ peerId: string, state: string }> }

export function createMeshMcpServer (options: McpOptions): McpServer {
  const api = new MeshApi(options.client)
  const server = new McpServer({ name: serverName, version: serverVersion }, { capabilities: { tools: {} } })

  function register<N extends ToolName> (name: N, handler: (args: z.output<(typeof toolSchemas)[N]>) => Promise<Json>): void {
    const schema = toolSchemas[name]
    server.registerTool(name, { description: toolDescriptions[name], inputSchema: schema }, (async (args: z.output<(typeof toolSchemas)[N]>) => {
      try {
        return success(await handler(args))
      } catch (err) {
        if (err instanceof MeshApiError) return failure(err.message, { status: err.status })
        if (err instanceof ToolError || err instanceof LaunchError) return failure(err.message)
        options.log(`${name}: unexpected error: ${(err as Error).stack ?? String(err)}`)
        return failure(`${name} failed unexpectedly: ${(err as Error).message}; the server keeps running (details on its stderr)`)
      }
    }) as never)
  }

  /** The node's identity and limits, for swarm_init. */
  async function describeNode (started: Json): Promise<Json> {
    const status = await api.json<NodeStatus>('GET', '/v1/status')
    let limits: MembersView | null = null
    try {
      limits = await api.json<MembersView>('GET', '/v1/members')
    } catch (err) {
      if (!(err instanceof MeshApiError) || err.status !== 404) throw err
    }
    const consensus = await api.json<ConsensusView>('GET', '/v1/consensus')
    let pid: number | null = null
    if (options.client.api == null) {
      try { pid = readRuntimeInfo(options.client.dataDir).pid } catch {}
    }
    const members = status.members.filter(m => m.state !== 'left')
    return {
      ...started,
      peerId: status.peerId,
      name: status.name,
      network: status.network,
      topology: 'mesh',
      maxAgents: limits?.maxPeers ?? null,
      minPeers: limits?.minPeers ?? null,
      agents: members.length,
      alive: status.counts.alive,
      connections: status.connections,
      mode: status.mode,
      addresses: status.multiaddrs,
      api: api.base(),
      dataDir: options.client.api == null ? options.client.dataDir : null,
      pid,
      consensus: consensus.role
    }
  }

  register('swarm_init', async args => {
    let runningError: MeshApiError | null = null
    try {
      await api.json('GET', '/health')
    } catch (err) {
      if (!(err instanceof MeshApiError) || err.status != null) throw err
      runningError = err
    }
    if (runningError == null) {
      const report = await describeNode({ started: false })
      const notes: string[] = []
      if (args.maxAgents != null && args.maxAgents !== report.maxAgents) {
        notes.push(`the node already runs with --max-peers ${String(report.maxAgents)}; maxAgents applies only when swarm_init starts a node (restart it with --max-peers ${args.maxAgents} to change)`)
      }
      const startOnly = (['name', 'network', 'listen', 'api', 'bootstrap', 'capabilities', 'genesis', 'config'] as const).filter(k => args[k] !== undefined)
      if (startOnly.length > 0) notes.push(`ignored (they apply only to a node started here): ${startOnly.join(', ')}`)
      return notes.length > 0 ? { ...report, notes } : report
    }
    options.log(`swarm_init: no node answers (${runningError.message}); starting one on ${options.client.dataDir}`)
    const startArgs: string[] = []
    if (args.maxAgents != null) {
      startArgs.push('--max-peers', String(args.maxAgents))
      if (args.maxAgents < 3) startArgs.push('--min-peers', String(args.maxAgents))
    }
    if (args.name != null) startArgs.push('--name', args.name)
    if (args.network != null) startArgs.push('--network', args.network)
    for (const address of args.listen ?? []) startArgs.push('--listen', address)
    for (const seed of args.bootstrap ?? []) startArgs.push('--bootstrap', seed)
    if (args.capabilities != null && args.capabilities.length > 0) startArgs.push('--capabilities', args.capabilities.join(','))
    if (args.genesis != null) startArgs.push('--genesis', args.genesis)
    if (args.config != null) startArgs.push('--config', args.config)
    const apiAddress = args.api ?? (options.client.api != null && !/^https?:/.test(options.client.api) ? options.client.api : undefined)
    if (apiAddress != null) startArgs.push('--api', apiAddress)
    const launched = await launchNode({
      meshBin: options.meshBin,
      dataDir: options.client.dataDir,
      args: startArgs,
      waitMs: args.waitMs,
      // the token travels in the environment, not on a command line others can read
      env: options.client.apiToken != null ? { MESH_API_TOKEN: options.client.apiToken } : undefined,
      apiToken: options.client.apiToken
    })
    options.log(`swarm_init: started node PID ${launched.pid} (log ${launched.logPath})`)
    const report = await describeNode({ started: true, log: launched.logPath })
    return { ...report, pid: launched.pid }
  })

  register('swarm_status', async args => {
    const status = await api.json<NodeStatus>('GET', '/v1/status')
    const consensus = await api.json<ConsensusView>('GET', '/v1/consensus')
    const members = status.members.filter(m => m.state !== 'left')
    return {
      peerId: status.peerId,
      name: status.name,
      network: status.network,
      topology: 'mesh',
      mode: status.mode,
      partitioned: status.partitioned,
      uptimeMs: status.uptimeMs,
      connections: status.connections,
      connectedPeers: status.connectedPeers,
      agents: members.length,
      counts: status.counts,
      ...(args.members
        ? {
            members: status.members.map(m => ({
              peerId: m.peerId, name: m.name, state: m.state, self: m.self, connected: m.connected, rttMs: m.rttMs,
              lastSeenMs: m.lastSeenMs, capabilities: m.capabilities, load: m.load
            }))
          }
        : {}),
      consensus: consensus.role === 'none'
        ? { role: 'none' }
        : { mode: consensus.mode, role: consensus.role, n: consensus.n, f: consensus.f, view: consensus.view, primary: consensus.primary, lastExecuted: consensus.lastExecuted, validatorsConnected: consensus.validators?.filter(v => v.connected).length }
    }
  })

  register('swarm_monitor', async args => {
    const answer = await api.raw('GET', '/metrics')
    if (answer.status !== 200) {
      let message = answer.text.slice(0, 300)
      try { message = String((JSON.parse(answer.text) as { error?: unknown }).error ?? message) } catch {}
      throw new MeshApiError(explain(answer.status, 'GET', '/metrics', message), answer.status)
    }
    const snapshot = parsePrometheus(answer.text, { prefixes: args.prefixes, buckets: args.buckets, samplesMax: args.samplesMax })
    return { takenAt: new Date().toISOString(), source: `${api.base()}/metrics`, ...snapshot }
  })

  register('daa_communication', async args => {
    if (args.action === 'receive') {
      return await api.json<Json>('GET', `/v1/messages${query({ after: args.after, limit: args.limit })}`)
    }
    return await api.json<Json>('POST', '/v1/messages', { to: args.to, body: args.body ?? null })
  })

  register('daa_consensus', async args => {
    switch (args.action) {
      case 'propose': {
        const body: Json = { proposal: args.proposal }
        if (args.threshold !== undefined) body.threshold = args.threshold
        if (args.protocol !== undefined) body.protocol = args.protocol // [votes]
        if (args.ttlSeconds !== undefined) body.ttlSeconds = args.ttlSeconds // [votes]
        return await api.json<Json>('POST', '/v1/proposals', body, 30_000)
      }
      case 'vote':
        return await api.json<Json>('POST', `/v1/proposals/${seg(args.id ?? '')}/votes`, { decision: args.decision }, 30_000)
      case 'status': {
        // [votes] without a genesis there are still gossip proposals: consensus shows role "none"
        const consensus = await api.json<ConsensusView>('GET', '/v1/consensus')
        if (args.id != null) return { consensus, proposal: await api.json<Json>('GET', `/v1/proposals/${seg(args.id)}`) }
        const { proposals } = await api.json<{ proposals: Json[] }>('GET', `/v1/proposals${query({ status: args.status, protocol: args.protocol })}`)
        return { consensus, proposals: proposals.slice(0, args.limit), more: Math.max(0, proposals.length - args.limit) }
      }
    }
  })

  register('daa_fault_tolerance', async args => {
    if (args.action === 'suspect') return await api.json<Json>('POST', `/v1/members/${seg(args.peerId ?? '')}/suspect`)
    if (args.peerId != null) return await api.json<Json>('GET', `/v1/members/${seg(args.peerId)}`)
    return await api.json<Json>('GET', '/v1/members')
  })

  register('memory_usage', async args => {
    const namespace = args.namespace ?? 'default'
    // [eventual] ?consistency=eventual selects the gossip store; linearizable/sequential the consensus one
    const level = args.consistency
    const eventual = level === 'eventual' ? 'consistency=eventual' : ''
    const withLevel = (path: string, extra = ''): string => {
      const params = [eventual, extra].filter(p => p !== '').join('&')
      return params === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${params}`
    }
    switch (args.action) {
      case 'store': {
        const value = typeof args.value === 'string' ? args.value : JSON.stringify(args.value)
        const result = await api.json<Json>('PUT', withLevel(`/v1/memory/${seg(namespace)}/${seg(args.key ?? '')}`), { value }, 30_000)
        return { ...result, namespace, key: args.key, stored: typeof args.value === 'string' ? 'string' : 'json-text' }
      }
      case 'retrieve': {
        const path = withLevel(`/v1/memory/${seg(namespace)}/${seg(args.key ?? '')}`, args.linearizable || level === 'linearizable' ? 'linearizable=1' : '')
        try {
          return { found: true, ...await api.json<Json>('GET', path, undefined, 30_000) }
        } catch (err) {
          // "no such key" is an answer, not a failure (the API says it with lastApplied)
          if (err instanceof MeshApiError && err.status === 404 && /^no key /.test(err.apiMessage ?? '')) return { found: false, namespace, key: args.key }
          throw err
        }
      }
      case 'list':
        if (args.namespace == null) return await api.json<Json>('GET', withLevel('/v1/memory'))
        return await api.json<Json>('GET', withLevel(`/v1/memory/${seg(namespace)}${query({ prefix: args.prefix, limit: args.limit })}`))
      case 'delete': {
        const result = await api.json<Json>('DELETE', withLevel(`/v1/memory/${seg(namespace)}/${seg(args.key ?? '')}`), undefined, 30_000)
        return { ...result, namespace, key: args.key }
      }
    }
  })

  register('performance_report', async args => {
    return await api.json<Json>('GET', `/v1/report${query({ timeframe: args.timeframe })}`, undefined, 30_000)
  })

  register('task_orchestrate', async args => {
    switch (args.action) {
      case 'submit': {
        const body: Json = { capabilities: args.capabilities, payload: args.payload ?? null }
        for (const k of ['priority', 'strategy', 'timeoutMs', 'id'] as const) if (args[k] !== undefined) body[k] = args[k]
        const path = `/v1/tasks${args.wait ? query({ wait: 1, timeoutMs: args.waitMs }) : ''}`
        const result = await api.json<Json>('POST', path, body, (args.wait ? args.waitMs : 0) + 30_000)
        return result
      }
      case 'status':
        return await api.json<Json>('GET', `/v1/tasks/${seg(args.id ?? '')}`)
      case 'list':
        return await api.json<Json>('GET', `/v1/tasks${query({ state: args.state, limit: args.limit })}`)
      case 'cancel':
        return await api.json<Json>('DELETE', `/v1/tasks/${seg(args.id ?? '')}`, undefined, 30_000)
    }
  })

  register('topology_optimize', async args => {
    const report = await api.json<Json>('POST', '/v1/topology/optimize', { timeoutMs: args.timeoutMs }, args.timeoutMs * 2 + 10_000)
    return { topology: 'mesh', ...report }
  })

  return server
}

/** The `mesh` entry script, to start nodes with (its real path: `mesh` may be a symlink). */
export function meshBinPath (): string {
  const script = process.argv[1]
  if (script == null) throw new Error('cannot tell where the mesh command lives (process.argv[1] is empty)')
  return realpathSync(script)
}

/** Run the server on stdio until the client closes it (stdin ends) or a signal arrives. */
export async function runMcpServer (client: ClientOptions): Promise<void> {
  const log = (line: string): void => { process.stderr.write(`mesh mcp: ${line}\n`) }
  const server = createMeshMcpServer({ client, meshBin: meshBinPath(), log })
  const transport = new StdioServerTransport()
  let done: () => void = () => {}
  const closed = new Promise<void>(resolve => { done = resolve })
  process.stdin.once('end', () => { done() })
  process.once('SIGINT', () => { done() })
  process.once('SIGTERM', () => { done() })
  await server.connect(transport)
  server.server.onclose = () => { done() }
  log(`serving ${Object.keys(toolSchemas).length} tools on stdio for the node ${client.api != null ? `at ${client.api}` : `of ${client.dataDir}`}`)
  await closed
  await server.close()
}
