/**
 * The library node: a whole mesh node in this process (src/runtime/start-mesh.ts, exactly what
 * `mesh start` runs), driven through its own local HTTP API so every call has the API's validation and
 * semantics (src/api/*.ts); in-process only where HTTP cannot reach: task handlers (the node's Executor)
 * and events (membership, received messages).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { optionSpecs, parseOption } from '../runtime/config.js'
import type { NodeConfig } from '../runtime/config.js'
import { startMesh } from '../runtime/start-mesh.js'
import type { RunningMesh } from '../runtime/start-mesh.js'
import type {
  BroadcastResult, DirectSendResult, MemberEvent, MemberState, MemoryEntry, MemoryOptions, MemoryWriteResult, MeshMemory,
  MeshNodeEvents, MeshNodeHandle, MeshTask, MeshTasks, NodeStatus, ProposalInfo, ProposalReceipt, ProposeOptions,
  StartNodeOptions, TaskHandlerFunction, TaskState, TaskSubmission
} from './types.js'

/**
 * Every error of the library: `status` is the HTTP status the node's API answered (its message is the
 * API's), or null for a local failure (bad options, a data dir in use, the API unreachable).
 */
export class MeshError extends Error {
  override readonly name = 'MeshError'
  /** The HTTP status the node's API answered, or null for a local failure. */
  readonly status: number | null
  /**
   * A consensus write that answered 504 "outcome unknown" (it may or may not apply): the request id to
   * send it again with (`requestId` of `memory.set` / `memory.delete`), exactly once.
   */
  readonly requestId: string | undefined
  /**
   * @param message the API's message, or what failed here
   * @param status the API's HTTP status, or null
   * @param requestId see {@link MeshError.requestId}
   * @param options the underlying error as `cause`
   */
  constructor (message: string, status: number | null = null, requestId?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.status = status
    this.requestId = requestId
  }
}

/** Data dirs of library nodes running in this process (the data-dir lock does not see its own PID). */
const inUse = new Set<string>()

/** Consensus writes may wait out a view change or an election. */
const writeTimeoutMs = 30_000
const readTimeoutMs = 10_000
const memberPollMs = 250
const unavailableRetryMsDefault = 20_000

const flagKeys = new Set<string>(optionSpecs.map(s => s.key))

/** Start a node in this process; resolves once it listens and its API serves. See {@link StartNodeOptions}. */
export async function startNode (options: StartNodeOptions = {}): Promise<MeshNodeHandle> {
  const temporary = options.dataDir == null
  const dataDir = temporary ? mkdtempSync(join(tmpdir(), 'mesh-node-')) : resolve(options.dataDir as string)
  const removeTemporary = (): void => { if (temporary && options.keepDataDir !== true) rmSync(dataDir, { recursive: true, force: true }) }
  if (inUse.has(dataDir)) throw new MeshError(`another node of this process runs on ${dataDir}; use another dataDir`)
  const flags: Partial<Record<keyof NodeConfig, unknown>> = {}
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && flagKeys.has(key)) flags[key as keyof NodeConfig] = value
  }
  flags.dataDir = dataDir
  flags.listen = options.listen ?? ['/ip4/127.0.0.1/tcp/0']
  flags.api = options.api ?? '127.0.0.1:0'
  if (options.loadShedding != null && options.loadShedding.length === 0) flags.loadShedding = 'none'
  const log = options.log
  inUse.add(dataDir)
  let mesh: RunningMesh
  try {
    mesh = await startMesh(flags, undefined, {
      env: options.env ?? {},
      out: (human, event) => {
        if (log == null) return
        if (event.event === 'log' || event.event === 'warning' || event.event === 'error' || event.event === 'leadership-handed-over') log(human)
      }
    })
  } catch (err) {
    inUse.delete(dataDir)
    removeTemporary()
    throw new MeshError((err as Error).message, null, undefined, { cause: err })
  }
  return new LibraryNode(mesh, options, () => {
    inUse.delete(dataDir)
    removeTemporary()
  })
}

type Listener<E extends keyof MeshNodeEvents> = (value: MeshNodeEvents[E]) => void

class LibraryNode implements MeshNodeHandle {
  readonly peerId: string
  readonly apiUrl: string
  readonly dataDir: string
  readonly network: string
  readonly memory: MeshMemory
  readonly tasks: MeshTasks
  private readonly token: string | undefined
  private readonly memberListeners = new Set<Listener<'member'>>()
  private readonly messageListeners = new Set<Listener<'message'>>()
  private memberTimer: NodeJS.Timeout | undefined
  private readonly known = new Map<string, MemberState>()
  private unsubscribeMessages: (() => void) | undefined
  private stopping: Promise<void> | undefined

  constructor (private readonly mesh: RunningMesh, private readonly options: StartNodeOptions, private readonly released: () => void) {
    this.peerId = mesh.node.peerId
    this.apiUrl = mesh.apiUrl
    this.dataDir = mesh.dataDir
    this.network = mesh.config.network
    this.token = mesh.config.apiToken
    this.memory = {
      get: async (key, o = {}) => {
        const answer = await this.request<{ value: string }>('GET', `${memoryPath(o, key)}${query(o, { linearizable: o.linearizable === true ? '1' : undefined })}`, undefined, writeTimeoutMs, true)
        return answer?.value
      },
      set: async (key, value, o = {}) => {
        if (typeof value !== 'string') throw new MeshError('memory.set: value must be a string (JSON.stringify other values)')
        const answer = await this.request<MemoryWriteResult>('PUT', `${memoryPath(o, key)}${query(o)}`, { value, ...(o.requestId != null ? { requestId: o.requestId } : {}) }, writeTimeoutMs) as MemoryWriteResult
        return { consistency: answer.consistency, ...(answer.seq != null ? { seq: answer.seq } : {}), ...(answer.created != null ? { created: answer.created } : {}) }
      },
      delete: async (key, o = {}) => {
        const answer = await this.request<{ deleted: boolean }>('DELETE', `${memoryPath(o, key)}${query(o, { requestId: o.requestId })}`, undefined, writeTimeoutMs) as { deleted: boolean }
        return answer.deleted
      },
      list: async (o = {}) => {
        const answer = await this.request<{ entries: MemoryEntry[] }>('GET', `${memoryPath(o)}${query(o, { prefix: o.prefix, limit: o.limit != null ? String(o.limit) : undefined })}`) as { entries: MemoryEntry[] }
        return answer.entries.map(e => ({ key: e.key, value: e.value, ...(e.seq != null ? { seq: e.seq } : {}), ...(e.writer != null ? { writer: e.writer } : {}) }))
      }
    }
    this.tasks = {
      submit: async (task, o = {}) => await this.submitTask(task, o),
      get: async id => {
        const raw = await this.request<RawTask>('GET', `/v1/tasks/${encodeURIComponent(id)}`, undefined, readTimeoutMs, true)
        return raw == null ? undefined : taskOf(raw)
      },
      list: async (o = {}) => {
        const params = new URLSearchParams({ limit: String(o.limit ?? 100) })
        if (o.state != null) params.set('state', o.state)
        const answer = await this.request<{ tasks: RawTask[] }>('GET', `/v1/tasks?${params.toString()}`) as { tasks: RawTask[] }
        return answer.tasks.map(taskOf)
      },
      cancel: async id => { await this.request('DELETE', `/v1/tasks/${encodeURIComponent(id)}`, undefined, writeTimeoutMs) }
    }
  }

  get multiaddrs (): string[] {
    return this.mesh.node.multiaddrs()
  }

  async status (): Promise<NodeStatus> {
    return await this.request<NodeStatus>('GET', '/v1/status') as NodeStatus
  }

  async propose (value: unknown, options: ProposeOptions = {}): Promise<ProposalReceipt> {
    const body: Record<string, unknown> = { proposal: value }
    if (options.threshold != null) body.threshold = options.threshold
    if (options.protocol != null) body.protocol = options.protocol
    if (options.ttlSeconds != null) body.ttlSeconds = options.ttlSeconds
    const answer = await this.request<{ id: string, protocol?: ProposalReceipt['protocol'], requiredApprovals: number }>('POST', '/v1/proposals', body, writeTimeoutMs) as { id: string, protocol?: ProposalReceipt['protocol'], requiredApprovals: number }
    return { id: answer.id, protocol: answer.protocol ?? this.mesh.node.consensus?.mode ?? 'gossip', requiredApprovals: answer.requiredApprovals }
  }

  async vote (id: string, decision: 'approve' | 'reject'): Promise<void> {
    await this.request('POST', `/v1/proposals/${encodeURIComponent(id)}/votes`, { decision }, writeTimeoutMs)
  }

  async proposals (options: { status?: ProposalInfo['status'] } = {}): Promise<ProposalInfo[]> {
    const answer = await this.request<{ proposals: RawProposal[] }>('GET', `/v1/proposals${options.status != null ? `?status=${options.status}` : ''}`) as { proposals: RawProposal[] }
    return answer.proposals.map(proposalOf)
  }

  async proposal (id: string): Promise<ProposalInfo | undefined> {
    const raw = await this.request<RawProposal>('GET', `/v1/proposals/${encodeURIComponent(id)}`, undefined, readTimeoutMs, true)
    return raw == null ? undefined : proposalOf(raw)
  }

  handle (capability: string, fn: TaskHandlerFunction): void {
    if (typeof fn !== 'function') throw new MeshError(`handle(${capability}): the handler must be a function`)
    const executor = this.mesh.executor
    if (executor == null) throw new MeshError('tasks need a consensus network: start the node with a genesis (options.genesis, or genesis.json in its data dir)')
    const current = this.mesh.node.status().members.find(m => m.self)?.capabilities ?? this.mesh.config.capabilities
    let offered: string[]
    try {
      offered = parseOption(optionSpecs.find(s => s.key === 'capabilities') as (typeof optionSpecs)[number], [...current, capability]) as string[]
    } catch (err) {
      throw new MeshError(`handle: ${(err as Error).message.replace(/^--capabilities: /, '')}`, null, undefined, { cause: err })
    }
    executor.handle(capability, fn)
    if (!current.includes(capability)) this.mesh.node.setCapabilities(offered)
  }

  async send (peer: string, message: unknown, options: { timeoutMs?: number } = {}): Promise<DirectSendResult> {
    if (peer === 'all') throw new MeshError('send: use broadcast() to send to all')
    const timeoutMs = options.timeoutMs ?? 5_000
    return await this.request<DirectSendResult>('POST', '/v1/messages', { to: peer, body: message ?? null, timeoutMs }, timeoutMs + 10_000) as DirectSendResult
  }

  async broadcast (message: unknown): Promise<BroadcastResult> {
    return await this.request<BroadcastResult>('POST', '/v1/messages', { to: 'all', body: message ?? null }, writeTimeoutMs) as BroadcastResult
  }

  on <E extends keyof MeshNodeEvents>(event: E, listener: Listener<E>): this {
    if (this.stopping != null) return this
    if (event === 'member') {
      const add = listener as Listener<'member'>
      if (this.memberListeners.has(add)) return this
      if (this.memberTimer == null) {
        this.pollMembers(false)
        this.memberTimer = setInterval(() => { this.pollMembers(true) }, memberPollMs)
        this.memberTimer.unref()
      }
      this.memberListeners.add(add)
      // the members known now, one event each, after this call returns
      const replay = this.mesh.node.status().members.filter(m => !m.self && this.known.has(m.peerId))
      setImmediate(() => {
        for (const m of replay) if (this.memberListeners.has(add)) this.emit(add, { peerId: m.peerId, name: m.name, state: m.state, previous: null, member: m })
      })
    } else if (event === 'message') {
      this.messageListeners.add(listener as Listener<'message'>)
      this.unsubscribeMessages ??= this.mesh.messaging.subscribe(message => {
        if (message.direction !== 'in') return
        for (const l of [...this.messageListeners]) this.emit(l, message)
      })
    } else {
      throw new MeshError(`on: unknown event "${String(event)}" (member, message)`)
    }
    return this
  }

  off <E extends keyof MeshNodeEvents>(event: E, listener: Listener<E>): this {
    if (event === 'member') {
      this.memberListeners.delete(listener as Listener<'member'>)
      if (this.memberListeners.size === 0) this.stopMemberPoll()
    } else if (event === 'message') {
      this.messageListeners.delete(listener as Listener<'message'>)
      if (this.messageListeners.size === 0) { this.unsubscribeMessages?.(); this.unsubscribeMessages = undefined }
    }
    return this
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.stopMemberPoll()
      this.memberListeners.clear()
      this.unsubscribeMessages?.()
      this.unsubscribeMessages = undefined
      this.messageListeners.clear()
      try {
        await this.mesh.stop()
      } finally {
        this.released()
      }
    })()
    await this.stopping
  }

  private stopMemberPoll (): void {
    if (this.memberTimer != null) clearInterval(this.memberTimer)
    this.memberTimer = undefined
    this.known.clear()
  }

  /** Compare the membership table with the last one; with `notify`, tell the listeners what changed. */
  private pollMembers (notify: boolean): void {
    for (const m of this.mesh.node.status().members) {
      if (m.self) continue
      const previous = this.known.get(m.peerId)
      if (previous === m.state) continue
      this.known.set(m.peerId, m.state)
      if (!notify) continue
      const event: MemberEvent = { peerId: m.peerId, name: m.name, state: m.state, previous: previous ?? null, member: m }
      for (const l of [...this.memberListeners]) this.emit(l, event)
    }
  }

  private emit<T> (listener: (value: T) => void, value: T): void {
    try {
      listener(value)
    } catch (err) {
      this.options.log?.(`a listener threw: ${(err as Error).message}`)
    }
  }

  private async submitTask (task: TaskSubmission, o: { wait?: boolean, waitTimeoutMs?: number }): Promise<MeshTask> {
    const capabilities = Array.isArray(task.capability) ? task.capability : [task.capability]
    const body: Record<string, unknown> = { capabilities, payload: task.payload ?? null }
    if (task.priority != null) body.priority = task.priority
    if (task.timeoutMs != null) body.timeoutMs = task.timeoutMs
    if (task.strategy != null) body.strategy = task.strategy
    if (task.id != null) body.id = task.id
    const waitMs = o.waitTimeoutMs ?? 120_000
    const path = o.wait === true ? `/v1/tasks?wait=1&timeoutMs=${waitMs}` : '/v1/tasks'
    const answer = await this.request<{ id: string, task?: RawTask | null }>('POST', path, body, o.wait === true ? waitMs + writeTimeoutMs : writeTimeoutMs) as { id: string, task?: RawTask | null }
    if (o.wait === true && answer.task != null) return taskOf(answer.task)
    // without wait the answer holds the table's row as is (a payload over 16 KiB by reference): read it back whole
    const known = await this.tasks.get(answer.id).catch(() => undefined) ?? (answer.task != null ? taskOf(answer.task) : undefined)
    if (known == null) throw new MeshError(`task ${answer.id} was submitted but this node does not show it yet; ask again with tasks.get("${answer.id}")`)
    return known
  }

  /**
   * One call to the node's own API. A non-2xx answer throws a MeshError with its status and message —
   * except a 404 "no …" (no such key, task or proposal) when `absentOk`: then undefined.
   */
  private async request<T> (method: string, path: string, body?: unknown, timeoutMs = readTimeoutMs, absentOk = false): Promise<T | undefined> {
    // 503 means refused at once, never sent, will not apply (no quorum yet: an election under way, a
    // node catching up): safe to send again, so it is, with backoff, for up to `unavailableRetryMs`
    const deadline = Date.now() + (this.options.unavailableRetryMs ?? unavailableRetryMsDefault)
    for (let pauseMs = 100; ; pauseMs = Math.min(1_000, pauseMs * 2)) {
      try {
        return await this.requestOnce<T>(method, path, body, timeoutMs, absentOk)
      } catch (err) {
        if (!(err instanceof MeshError) || err.status !== 503 || Date.now() + pauseMs > deadline || this.stopping != null) throw err
      }
      await new Promise(resolve => setTimeout(resolve, pauseMs))
    }
  }

  private async requestOnce<T> (method: string, path: string, body: unknown, timeoutMs: number, absentOk: boolean): Promise<T | undefined> {
    if (this.stopping != null) throw new MeshError('this node is stopped')
    const headers: Record<string, string> = {}
    if (this.token != null) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(`${this.apiUrl}${path}`, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message
      throw new MeshError(`${method} ${path.split('?')[0] ?? path}: no answer from the node's API (${cause})`, null, undefined, { cause: err })
    }
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new MeshError(`${method} ${path.split('?')[0] ?? path}: the API answered ${res.status} with non-JSON: ${text.slice(0, 200)}`, res.status)
    }
    if (!res.ok) {
      const object = (typeof parsed === 'object' && parsed != null ? parsed : {}) as { error?: unknown, requestId?: unknown }
      const message = typeof object.error === 'string' ? object.error : text.slice(0, 300)
      if (absentOk && res.status === 404 && /^no (key|task|proposal|gossip proposal) /.test(message)) return undefined
      throw new MeshError(message, res.status, typeof object.requestId === 'string' ? object.requestId : undefined)
    }
    return parsed as T
  }
}

interface RawTask {
  id: string
  capabilities: string[]
  state: TaskState
  assignee: string | null
  submitter: string
  priority: number
  timeoutMs: number
  strategy: MeshTask['strategy']
  payload: string
  result?: string
  error?: string
  history: MeshTask['history']
}

interface RawProposal {
  id: string
  protocol?: ProposalInfo['protocol']
  status: ProposalInfo['status']
  proposer: string
  proposal: unknown
  approvals: number
  rejections: number
  requiredApprovals: number
  votes?: Array<{ voter: string, decision: 'approve' | 'reject' }>
}

function parsedJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}

function taskOf (raw: RawTask): MeshTask {
  const task: MeshTask = {
    id: raw.id,
    capabilities: raw.capabilities,
    state: raw.state,
    assignee: raw.assignee,
    submitter: raw.submitter,
    priority: raw.priority,
    timeoutMs: raw.timeoutMs,
    strategy: raw.strategy,
    payload: parsedJson(raw.payload),
    history: raw.history
  }
  if (raw.result != null) task.result = parsedJson(raw.result)
  if (raw.error != null) task.error = raw.error
  return task
}

function proposalOf (raw: RawProposal): ProposalInfo {
  return {
    id: raw.id,
    protocol: raw.protocol ?? 'gossip',
    status: raw.status,
    proposer: raw.proposer,
    proposal: raw.proposal,
    approvals: raw.approvals,
    rejections: raw.rejections,
    requiredApprovals: raw.requiredApprovals,
    votes: (raw.votes ?? []).map(v => ({ voter: v.voter, decision: v.decision }))
  }
}

function memoryPath (o: MemoryOptions, key?: string): string {
  return `/v1/memory/${encodeURIComponent(o.namespace ?? 'default')}${key != null ? `/${encodeURIComponent(key)}` : ''}`
}

function query (o: MemoryOptions, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams()
  if (o.eventual === true) params.set('consistency', 'eventual')
  for (const [name, value] of Object.entries(extra)) if (value != null) params.set(name, value)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

