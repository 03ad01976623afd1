/**
 * Peer messaging with 3 real node processes on 127.0.0.1 (membership only, no genesis): direct
 * messages with an ack (by PeerId and by name), a broadcast that reaches every node exactly once,
 * the SSE stream, the HTTP errors (400/404/413/504), a rogue libp2p peer sending forged and tampered
 * messages (directly and on the topic), and `mesh send` / `mesh messages` through the CLI binary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { api, Cluster, meshBin, startRoguePeer, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { messageSigningBytes, newMessageId, sealMessage } from '../../protocols/msg/codec.js'
import { MessageAck, MessageContent, MessageEnvelope } from '../../protocols/msg/msg.js'
import { msgTopic } from '../../protocols/msg/constants.js'
import type { MessageStats, MessageView, SendResult } from '../../src/runtime/messages.js'

interface Page { messages: MessageView[], cursor: number, latest: number, oldest: number, more: boolean }
type Direct = Extract<SendResult, { delivered: true }>
type Broadcast = Extract<SendResult, { broadcast: true }>

function mesh (args: string[]): { code: number | null, stdout: string, stderr: string } {
  const result = spawnSync(process.execPath, [meshBin, ...args], { encoding: 'utf8', env: { ...process.env, MESH_DATA_DIR: '' }, timeout: 30_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('peer messaging between 3 nodes', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let alpha: NodeProcess
  let beta: NodeProcess
  let gamma: NodeProcess
  let rogue: MeshLibp2p | undefined

  const everyone = (): NodeProcess[] => [alpha, beta, gamma]
  const messages = async (node: NodeProcess, after = 0): Promise<MessageView[]> =>
    (await api<Page>(node, 'GET', `/v1/messages?after=${after}&limit=1000`)).body.messages
  const stats = async (node: NodeProcess): Promise<MessageStats> => (await api<MessageStats>(node, 'GET', '/v1/messages/stats')).body

  beforeAll(async () => {
    alpha = await cluster.start('alpha')
    const seed = alpha.runtime.multiaddrs[0] as string
    ;[beta, gamma] = await Promise.all(['beta', 'gamma'].map(async name => await cluster.start(name, { bootstrap: [seed] })))
    for (const node of everyone()) {
      await cluster.waitForStatus(node, '3 named alive members', s =>
        s.members.length === 3 && s.members.every(m => m.state === 'alive' && m.name !== ''))
    }
  })

  afterAll(async () => {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  })

  it('a direct message is acknowledged and shows up in the receiver\'s GET /v1/messages', async () => {
    const sent = await api<Direct>(alpha, 'POST', '/v1/messages', { to: beta.runtime.peerId, body: { hello: 'beta', n: [1, 2, 3] } })
    expect(sent.status).toBe(201)
    expect(sent.body).toMatchObject({ to: beta.runtime.peerId, toName: 'beta', delivered: true, duplicate: false })
    expect(sent.body.id).toMatch(/^[0-9a-f]{32}$/)
    // the ack came after the receiver stored it: it is there at once, no waiting
    const received = (await messages(beta)).filter(m => m.id === sent.body.id)
    expect(received).toHaveLength(1)
    expect(received[0]).toMatchObject({
      direction: 'in', via: 'direct', from: alpha.runtime.peerId, fromName: 'alpha', to: beta.runtime.peerId, body: { hello: 'beta', n: [1, 2, 3] }
    })
    // the sender's log shows it as sent and delivered
    const own = (await messages(alpha)).filter(m => m.id === sent.body.id)
    expect(own).toEqual([expect.objectContaining({ direction: 'out', via: 'direct', delivered: true, toName: 'beta' })])
    expect((await stats(alpha)).delivered).toBeGreaterThanOrEqual(1)
    expect((await stats(beta)).receivedDirect).toBeGreaterThanOrEqual(1)
  })

  it('a direct message can be addressed by member name', async () => {
    const sent = await api<Direct>(gamma, 'POST', '/v1/messages', { to: 'alpha', body: 'hi alpha' })
    expect(sent.status).toBe(201)
    expect(sent.body).toMatchObject({ to: alpha.runtime.peerId, toName: 'alpha', delivered: true })
    expect((await messages(alpha)).filter(m => m.id === sent.body.id)).toEqual([
      expect.objectContaining({ direction: 'in', from: gamma.runtime.peerId, fromName: 'gamma', body: 'hi alpha' })
    ])
  })

  it('a broadcast reaches every other node exactly once', async () => {
    for (const node of everyone()) await waitUntil(`${node.name} to see 2 broadcast subscribers`, 30_000, async () => (await stats(node)).broadcastPeers >= 2 ? true : undefined)
    const cursors = await Promise.all(everyone().map(async node => (await api<Page>(node, 'GET', '/v1/messages?limit=1')).body.latest))
    const sent = await api<Broadcast>(alpha, 'POST', '/v1/messages', { to: 'all', body: { event: 'deploy', version: 7 } })
    expect(sent.status).toBe(201)
    expect(sent.body).toMatchObject({ to: 'all', broadcast: true, recipients: 2 })
    for (const node of [beta, gamma]) {
      await waitUntil(`${node.name} to receive the broadcast`, 15_000, async () => (await messages(node)).some(m => m.id === sent.body.id) ? true : undefined)
    }
    // a second broadcast from another node as a barrier: once it is in, any repeat of the first would be too
    const barrier = await api<Broadcast>(beta, 'POST', '/v1/messages', { to: 'all', body: 'barrier' })
    expect(barrier.status).toBe(201)
    for (const node of [alpha, gamma]) {
      await waitUntil(`${node.name} to receive the barrier`, 15_000, async () => (await messages(node)).some(m => m.id === barrier.body.id) ? true : undefined)
    }
    for (const [index, node] of everyone().entries()) {
      const log = await messages(node, cursors[index])
      const copies = log.filter(m => m.id === sent.body.id)
      expect(copies).toHaveLength(1)
      expect(copies[0]).toMatchObject(node === alpha
        ? { direction: 'out', via: 'broadcast', to: 'all' }
        : { direction: 'in', via: 'broadcast', from: alpha.runtime.peerId, fromName: 'alpha', to: 'all', body: { event: 'deploy', version: 7 } })
    }
  })

  it('the SSE stream delivers a new message, replays after Last-Event-ID, and is cleaned up on disconnect', async () => {
    const controller = new AbortController()
    const res = await fetch(`${gamma.api}/v1/messages/stream`, { signal: controller.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    await waitUntil('gamma to count the stream', 10_000, async () => (await stats(gamma)).listeners === 1 ? true : undefined)
    const sent = await api<Direct>(beta, 'POST', '/v1/messages', { to: 'gamma', body: { live: true } })
    expect(sent.status).toBe(201)
    const events = await readEvents(res, 1, 15_000)
    controller.abort()
    expect(events[0]?.id).toBe(String(events[0]?.message.cursor))
    expect(events[0]?.message).toMatchObject({ id: sent.body.id, direction: 'in', from: beta.runtime.peerId, body: { live: true } })
    await waitUntil('gamma to drop the closed stream', 10_000, async () => (await stats(gamma)).listeners === 0 ? true : undefined)

    // resume: Last-Event-ID one before that message replays it (and only what came after)
    const cursor = events[0]?.message.cursor as number
    const resumed = new AbortController()
    const again = await fetch(`${gamma.api}/v1/messages/stream`, { signal: resumed.signal, headers: { 'last-event-id': String(cursor - 1) } })
    const replay = await readEvents(again, 1, 10_000)
    resumed.abort()
    expect(replay[0]?.message.id).toBe(sent.body.id)
    // a bad cursor is a 400, not a stream
    expect((await fetch(`${gamma.api}/v1/messages/stream?after=abc`)).status).toBe(400)
  })

  it('bad input: 400 (bad body, ambiguous-free but malformed), 404 (unknown peer), 413 (over 64 KiB)', async () => {
    expect((await api(alpha, 'POST', '/v1/messages', { to: 'beta' })).status).toBe(400)
    expect((await api(alpha, 'POST', '/v1/messages', { body: 1 })).status).toBe(400)
    expect((await api(alpha, 'POST', '/v1/messages', { to: 'alpha', body: 1 })).status).toBe(400)
    expect((await api(alpha, 'POST', '/v1/messages', { to: 'beta', body: 1, color: 'red' })).status).toBe(400)
    const unknown = await api<{ error: string }>(alpha, 'POST', '/v1/messages', { to: 'nobody', body: 1 })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toMatch(/mesh peers/)
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    expect((await api(alpha, 'POST', '/v1/messages', { to: stranger, body: 1 })).status).toBe(404)
    const big = await api<{ error: string }>(alpha, 'POST', '/v1/messages', { to: 'beta', body: 'x'.repeat(70 * 1024) })
    expect(big.status).toBe(413)
    expect(big.body.error).toMatch(/65536/)
    // a request that is not JSON at all
    const raw = await fetch(`${alpha.api}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })
    expect(raw.status).toBe(400)
    expect((await api(alpha, 'GET', '/v1/messages?after=-1')).status).toBe(400)
    expect((await api(alpha, 'GET', '/v1/messages?limit=0')).status).toBe(400)
  })

  it('a peer that does not ack in time is a 504, counted as a failed ack', async () => {
    const before = await stats(alpha)
    cluster.kill(gamma, 'SIGSTOP')
    try {
      const res = await api<{ error: string }>(alpha, 'POST', '/v1/messages', { to: 'gamma', body: 'are you there?', timeoutMs: 1500 })
      expect(res.status).toBe(504)
      expect(res.body.error).toMatch(/no ack within 1500 ms/)
    } finally {
      cluster.kill(gamma, 'SIGCONT')
    }
    const after = await stats(alpha)
    expect(after.acksFailed).toBe(before.acksFailed + 1)
    expect((await messages(alpha, before.inbox.cursor)).at(-1)).toMatchObject({ direction: 'out', delivered: false, toName: 'gamma' })
    // gamma is back: messages go through again
    await waitUntil('gamma to acknowledge again', 30_000, async () => (await api(alpha, 'POST', '/v1/messages', { to: 'gamma', body: 'back?' })).status === 201 ? true : undefined, 500)
  })

  it('forged and tampered messages from a rogue peer are rejected and counted; nobody crashes', async () => {
    const rogueKey = await generateKeyPair('Ed25519')
    const rogueId = peerIdFromPrivateKey(rogueKey).toString()
    rogue = await startRoguePeer(cluster.network, rogueKey)
    const topic = msgTopic(cluster.network)
    rogue.services.pubsub.subscribe(topic)
    await rogue.dial(multiaddr(beta.runtime.multiaddrs[0] as string))
    const before = await stats(beta)
    const betaId = peerIdFromString(beta.runtime.peerId)
    const send = async (bytes: Uint8Array): Promise<MessageAck> => await (rogue as MeshLibp2p).services.messaging.sendEnvelope(betaId, bytes, AbortSignal.timeout(10_000))
    const content = (from: string, to: string, body: string): Partial<MessageContent> => ({ id: newMessageId(), from, to, timeMs: BigInt(Date.now()), body })

    // 1. claims to be alpha, signed with the rogue's key
    const forged = await send(await rawSeal(cluster.network, rogueKey, content(alpha.runtime.peerId, beta.runtime.peerId, '{"pay":1}')))
    expect(forged).toMatchObject({ outcome: MessageAck.Outcome.REJECTED, reason: 'impersonation' })
    // 2. the rogue's own message, altered after signing
    const honest = await sealMessage(cluster.network, rogueKey, { id: newMessageId(), from: rogueId, to: beta.runtime.peerId, timeMs: Date.now(), body: '{"amount":100}' })
    const tampered = await send(swapAscii(honest, '{"amount":100}', '{"amount":900}'))
    expect(tampered).toMatchObject({ outcome: MessageAck.Outcome.REJECTED, reason: 'bad-signature' })
    // 3. garbage, and a body that is not JSON (validly signed)
    expect(await send(new Uint8Array([0xff, 0xfe, 0x01, 0x02, 0x03]))).toMatchObject({ outcome: MessageAck.Outcome.REJECTED, reason: 'undecodable' })
    expect(await send(await rawSeal(cluster.network, rogueKey, content(rogueId, beta.runtime.peerId, 'not json {')))).toMatchObject({ reason: 'bad-json' })
    // 4. over 64 KiB (validly signed)
    expect(await send(await rawSeal(cluster.network, rogueKey, content(rogueId, beta.runtime.peerId, JSON.stringify('x'.repeat(70_000)))))).toMatchObject({ reason: 'oversize' })
    // 4b. a frame over the stream bound (130 KiB): the stream is reset unread, and counted
    await expect(send(new Uint8Array(200 * 1024).fill(7))).rejects.toMatchObject({ name: 'MessageDeliveryError' })
    // 5. the same honest message, untampered, is accepted: the rejections above were about the forgery
    expect(await send(honest)).toMatchObject({ outcome: MessageAck.Outcome.ACCEPTED })
    expect(await send(honest)).toMatchObject({ outcome: MessageAck.Outcome.DUPLICATE })

    // on the broadcast topic: a forged and a tampered broadcast
    await waitUntil('beta to subscribe the rogue to the message topic', 30_000, async () =>
      rogue?.services.pubsub.getSubscribers(topic).some(p => p.toString() === beta.runtime.peerId) === true ? true : undefined)
    await rogue.services.pubsub.publish(topic, await rawSeal(cluster.network, rogueKey, content(alpha.runtime.peerId, 'all', '{"forged":true}')))
    const ownBroadcast = await sealMessage(cluster.network, rogueKey, { id: newMessageId(), from: rogueId, to: 'all', timeMs: Date.now(), body: '{"v":"aaaa"}' })
    await rogue.services.pubsub.publish(topic, swapAscii(ownBroadcast, '{"v":"aaaa"}', '{"v":"bbbb"}'))

    const after = await waitUntil('beta to count every rejection', 15_000, async () => {
      const s = await stats(beta)
      // direct: the forgery is an impersonation (the stream's peer is not from); on the topic (no publisher
      // signature, any node may forward) both the forged and the tampered broadcast fail their signature
      return s.rejected.impersonation >= before.rejected.impersonation + 1 && s.rejected['bad-signature'] >= before.rejected['bad-signature'] + 3 ? s : undefined
    })
    expect(after.rejected.undecodable).toBe(before.rejected.undecodable + 1)
    expect(after.rejected['bad-json']).toBe(before.rejected['bad-json'] + 1)
    expect(after.rejected.oversize).toBe(before.rejected.oversize + 2)
    const log = await messages(beta, before.inbox.cursor)
    // only the honest one got in, once
    expect(log.filter(m => m.direction === 'in').map(m => m.body)).toEqual([{ amount: 100 }])
    expect(log.some(m => JSON.stringify(m.body).includes('forged') || JSON.stringify(m.body).includes('900') || JSON.stringify(m.body).includes('bbbb'))).toBe(false)
    // nobody crashed, and beta still delivers honest messages
    for (const node of everyone()) expect(node.child.exitCode).toBeNull()
    expect((await api(alpha, 'POST', '/v1/messages', { to: 'beta', body: 'still fine?' })).status).toBe(201)
    await rogue.stop()
    rogue = undefined
  })

  it('mesh send and mesh messages --json through the CLI binary', async () => {
    const sent = mesh(['send', '--to', 'gamma', '{"cli": true}', '--data-dir', alpha.dataDir, '--json'])
    expect(sent.stderr).toBe('')
    expect(sent.code).toBe(0)
    const result = JSON.parse(sent.stdout) as Direct
    expect(result).toMatchObject({ to: gamma.runtime.peerId, toName: 'gamma', delivered: true })

    const listed = mesh(['messages', '--json', '--data-dir', gamma.dataDir])
    expect(listed.code).toBe(0)
    const page = JSON.parse(listed.stdout) as Page
    expect(page.messages.filter(m => m.id === result.id)).toEqual([expect.objectContaining({ direction: 'in', fromName: 'alpha', body: { cli: true } })])

    const human = mesh(['messages', '--data-dir', gamma.dataDir])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/← alpha \(.*\)\s+direct\s+\{"cli":true\}/)

    const broadcast = mesh(['send', '--to', 'all', '"to everyone"', '--data-dir', beta.dataDir])
    expect(broadcast.code).toBe(0)
    expect(broadcast.stdout).toMatch(/^broadcast [0-9a-f]{32} to all \(published to 2 peers/)

    // errors: unknown peer (runtime error, exit 1, says what to do), not JSON (usage error, exit 2)
    const unknown = mesh(['send', '--to', 'nobody', '1', '--data-dir', alpha.dataDir])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/404 .*mesh peers/)
    const notJson = mesh(['send', '--to', 'gamma', 'hello', '--data-dir', alpha.dataDir])
    expect(notJson.code).toBe(2)
    expect(notJson.stderr.trim().split('\n')).toHaveLength(1)
    expect(notJson.stderr).toMatch(/not valid JSON/)
    expect(mesh(['send', '1', '--data-dir', alpha.dataDir]).code).toBe(2) // no --to
  })

  it('mesh messages --follow --json prints messages as they arrive', async () => {
    const child = spawn(process.execPath, [meshBin, 'messages', '--follow', '--json', '--limit', '1', '--data-dir', beta.dataDir], { env: { ...process.env, MESH_DATA_DIR: '' } })
    try {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
      await waitUntil('the follower to connect', 15_000, async () => (await stats(beta)).listeners >= 1 ? true : undefined)
      const sent = await api<Direct>(gamma, 'POST', '/v1/messages', { to: 'beta', body: { followed: 1 } })
      expect(sent.status).toBe(201)
      const line = await waitUntil('the follower to print the message', 15_000, async () =>
        out.split('\n').find(l => l.includes(sent.body.id)))
      expect(JSON.parse(line)).toMatchObject({ id: sent.body.id, direction: 'in', fromName: 'gamma', body: { followed: 1 } })
    } finally {
      if (child.pid != null) { try { process.kill(child.pid, 'SIGKILL') } catch {} }
    }
  })
})

/** Encode and sign any content with `key`, valid or not: the signature covers exactly these bytes. */
async function rawSeal (network: string, key: PrivateKey, content: Partial<MessageContent>): Promise<Uint8Array> {
  const bytes = MessageContent.encode({ id: '', from: '', to: '', timeMs: 0n, body: '', ...content })
  return MessageEnvelope.encode({ content: bytes, signature: Uint8Array.from(await key.sign(messageSigningBytes(network, bytes))) })
}

/** Replace an ASCII string inside bytes by another of the same length. */
function swapAscii (bytes: Uint8Array, from: string, to: string): Uint8Array {
  if (from.length !== to.length) throw new Error('swapAscii needs equal lengths')
  const text = Buffer.from(bytes).toString('latin1')
  const index = text.indexOf(from)
  if (index < 0) throw new Error('string not found in bytes')
  return new Uint8Array(Buffer.from(text.slice(0, index) + to + text.slice(index + from.length), 'latin1'))
}

/** Read `count` `message` events from an SSE response, within `timeoutMs`. */
async function readEvents (res: Response, count: number, timeoutMs: number): Promise<Array<{ id: string, message: MessageView }>> {
  if (res.body == null) throw new Error('no body')
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  const events: Array<{ id: string, message: MessageView }> = []
  let buffer = ''
  const deadline = Date.now() + timeoutMs
  while (events.length < count) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`only ${events.length} of ${count} events within ${timeoutMs} ms; got: ${buffer.slice(0, 500)}`)
    let timer: ReturnType<typeof setTimeout> | undefined
    const chunk = await Promise.race([
      reader.read(),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no event within ${timeoutMs} ms`)) }, left) })
    ]).finally(() => { clearTimeout(timer) })
    if (chunk.done) throw new Error('the stream ended')
    buffer += decoder.decode(chunk.value, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const lines = block.split('\n')
      const event = lines.find(l => l.startsWith('event: '))?.slice(7)
      const id = lines.find(l => l.startsWith('id: '))?.slice(4)
      const data = lines.filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n')
      if (event === 'message' && id != null) events.push({ id, message: JSON.parse(data) as MessageView })
    }
  }
  reader.releaseLock()
  return events
}
