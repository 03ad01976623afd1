/**
 * Network-namespace helpers for multi-host tests on one machine (needs root and iproute2).
 *
 * Topology: one "switch" namespace holding a bridge, and one namespace per host, each with a veth
 * pair host(eth0) ↔ switch(p<i>) enslaved to the bridge and one private address 10.213.<x>.<10+i>/24.
 * Nothing is added to the root namespace: every interface is created directly inside the test's
 * namespaces, and the only root-namespace sockets are on 127.0.0.1 (the API relays below).
 *
 * The HTTP API of a node inside a namespace listens on 127.0.0.1 *of that namespace*, unreachable from
 * the test process. `startApiRelay` bridges it: a small relay process runs inside the namespace and
 * forwards a Unix socket (filesystem sockets are not per-namespace) to 127.0.0.1:<apiPort> there, and
 * a TCP server in the test process on 127.0.0.1:0 of the root namespace forwards to that Unix socket.
 * The relay URL stays valid across restarts of the node (same fixed API port in its namespace).
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { openSync, closeSync } from 'node:fs'

export interface Host {
  index: number
  /** Namespace name. */
  ns: string
  /** The host's private address (no prefix length). */
  address: string
  /** Switch-side end of the host's veth pair (in the switch namespace). */
  switchPort: string
}

function run (args: string[]): { ok: boolean, output: string } {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim()
  if (result.error != null) return { ok: false, output: result.error.message }
  return { ok: result.status === 0, output }
}

/** Run `ip <args>`; throws with the command and its output on failure. */
export function ip (...args: string[]): string {
  const { ok, output } = run(args)
  if (!ok) throw new Error(`ip ${args.join(' ')} failed: ${output}`)
  return output
}

/**
 * Why namespace tests cannot run here, or undefined when they can. Actually tries what the tests do
 * (a namespace with a bridge and a veth pair), in a throw-away namespace.
 */
export function netnsUnavailableReason (): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return `network namespaces need root (uid is ${process.getuid?.() ?? 'unknown'})`
  const version = run(['-V'])
  if (!version.ok) return `iproute2 \`ip\` is not usable: ${version.output}`
  const probe = `mtp${process.pid}`
  const steps: string[][] = [
    ['netns', 'add', probe],
    ['-n', probe, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', probe, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb'],
    ['-n', probe, 'link', 'set', 'va', 'master', 'br0']
  ]
  try {
    for (const step of steps) {
      const { ok, output } = run(step)
      if (!ok) return `cannot set up a network namespace (\`ip ${step.join(' ')}\`: ${output})`
    }
    const exec = spawnSync('ip', ['netns', 'exec', probe, 'true'], { encoding: 'utf8', timeout: 10_000 })
    if (exec.status !== 0) return `\`ip netns exec\` does not work: ${(exec.stderr ?? exec.error?.message ?? '').trim()}`
    return undefined
  } finally {
    run(['netns', 'del', probe])
  }
}

/** [nat] Run `command` inside namespace `ns` (ip netns exec); throws with its output on failure. */
function runIn (ns: string, command: string[], input?: string): string {
  const result = spawnSync('ip', ['netns', 'exec', ns, ...command], { encoding: 'utf8', timeout: 10_000, input })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim()
  if (result.error != null || result.status !== 0) throw new Error(`ip netns exec ${ns} ${command.join(' ')} failed: ${result.error?.message ?? output}`)
  return output
}

/** [nat] Why NAT namespace tests cannot run here (no `nft`), or undefined. */
export function natUnavailableReason (): string | undefined {
  const base = netnsUnavailableReason()
  if (base != null) return base
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: 10_000 })
  if (nft.error != null || nft.status !== 0) return `nftables \`nft\` is not usable (${nft.error?.message ?? nft.stderr.trim()}); install the nftables package`
  return undefined
}

export class NetnsLab {
  readonly prefix: string
  readonly switchNs: string
  readonly subnet: string
  readonly hosts: Host[] = []
  private readonly created: string[] = []
  private readonly relays: Array<{ child: ChildProcess, server: Server, sockets: Set<Socket> }> = []

  constructor (prefix = `mt${process.pid}`) {
    this.prefix = prefix
    this.switchNs = `${prefix}-sw`
    // The subnet only has to be unique inside our own namespaces; vary it anyway for readable logs.
    this.subnet = `10.213.${process.pid % 250}`
  }

  private addNs (name: string): void {
    ip('netns', 'add', name)
    this.created.push(name)
    ip('-n', name, 'link', 'set', 'lo', 'up')
  }

  /** Create the switch and `count` hosts h0..h<count-1>. */
  create (count: number): Host[] {
    this.addNs(this.switchNs)
    ip('-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.switchNs, 'link', 'set', 'br0', 'up')
    for (let i = 0; i < count; i++) {
      const ns = `${this.prefix}-h${i}`
      const switchPort = `p${i}`
      const address = `${this.subnet}.${10 + i}`
      this.addNs(ns)
      ip('-n', this.switchNs, 'link', 'add', switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      ip('-n', this.switchNs, 'link', 'set', switchPort, 'master', 'br0')
      ip('-n', this.switchNs, 'link', 'set', switchPort, 'up')
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      this.hosts.push({ index: i, ns, address, switchPort })
    }
    return this.hosts
  }

  // ── [nat] hosts with chosen addresses on the switch, and homes behind NAT routers (nat-netns.test.ts) ──

  /** The switch alone (no hosts): for `addSwitchHost` and `addNatHome`. */
  createSwitch (): void {
    this.addNs(this.switchNs)
    ip('-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.switchNs, 'link', 'set', 'br0', 'up')
  }

  /** Connect namespace `ns` to the switch through a veth pair: `dev` inside it, `switchPort` on the bridge. */
  private plug (ns: string, dev: string, switchPort: string, address: string, prefixLength: number): void {
    ip('-n', this.switchNs, 'link', 'add', switchPort, 'type', 'veth', 'peer', 'name', dev, 'netns', ns)
    ip('-n', this.switchNs, 'link', 'set', switchPort, 'master', 'br0')
    ip('-n', this.switchNs, 'link', 'set', switchPort, 'up')
    ip('-n', ns, 'addr', 'add', `${address}/${prefixLength}`, 'dev', dev)
    ip('-n', ns, 'link', 'set', dev, 'up')
  }

  /** A host on the switch with the given address (/24), e.g. a public-looking one for a NAT test. */
  addSwitchHost (address: string): Host {
    const index = this.hosts.length
    const ns = `${this.prefix}-h${index}`
    const switchPort = `p${index}`
    this.addNs(ns)
    this.plug(ns, 'eth0', switchPort, address, 24)
    const host = { index, ns, address, switchPort }
    this.hosts.push(host)
    return host
  }

  /**
   * A home behind its own NAT router: a router namespace with `wan0` on the switch (`wanAddress`/24)
   * and `lan0` (<lanSubnet>.1/24) to the home namespace (<lanSubnet>.10, default route via the router).
   * The router masquerades what leaves by wan0 and forwards nothing inbound but replies (nftables:
   * `ct state established,related accept`, `iifname "lan0" accept`, policy drop). Needs `nft`.
   */
  addNatHome (wanAddress: string, lanSubnet: string): { home: Host, routerNs: string, wanAddress: string } {
    const index = this.hosts.length
    const routerNs = `${this.prefix}-r${index}`
    this.addNs(routerNs)
    this.plug(routerNs, 'wan0', `p${index}`, wanAddress, 24)
    const ns = `${this.prefix}-h${index}`
    this.addNs(ns)
    ip('-n', routerNs, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    ip('-n', routerNs, 'addr', 'add', `${lanSubnet}.1/24`, 'dev', 'lan0')
    ip('-n', routerNs, 'link', 'set', 'lan0', 'up')
    const address = `${lanSubnet}.10`
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
    ip('-n', ns, 'link', 'set', 'eth0', 'up')
    ip('-n', ns, 'route', 'add', 'default', 'via', `${lanSubnet}.1`)
    runIn(routerNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    // one statement per line; `fwd` is an nft keyword, so the chain is called `forward`
    const ruleset = [
      'table ip nat {',
      '  chain postrouting {',
      '    type nat hook postrouting priority 100; policy accept;',
      '    oifname "wan0" masquerade',
      '  }',
      '}',
      'table ip filter {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy drop;',
      '    ct state established,related accept',
      '    iifname "lan0" accept',
      '  }',
      '}'
    ].join('\n') + '\n'
    runIn(routerNs, ['nft', '-f', '-'], ruleset)
    const home = { index, ns, address, switchPort: `p${index}` }
    this.hosts.push(home)
    return { home, routerNs, wanAddress }
  }

  /** Run a program inside a namespace (throws with its output on failure). */
  exec (ns: string, command: string[], input?: string): string {
    return runIn(ns, command, input)
  }

  /** Command prefix running a program inside the host's namespace. */
  wrap (host: Host): string[] {
    return ['ip', 'netns', 'exec', host.ns]
  }

  /**
   * Take the host's link down: at the switch (its bridge port goes down, like a pulled cable: the host
   * keeps its route and its TCP connections just stall) or on the host (its eth0 goes down: its route
   * to the subnet is removed and sends fail at once).
   */
  linkDown (host: Host, side: 'switch' | 'host' = 'switch'): void {
    if (side === 'switch') ip('-n', this.switchNs, 'link', 'set', host.switchPort, 'down')
    else ip('-n', host.ns, 'link', 'set', 'eth0', 'down')
  }

  linkUp (host: Host, side: 'switch' | 'host' = 'switch'): void {
    if (side === 'switch') ip('-n', this.switchNs, 'link', 'set', host.switchPort, 'up')
    else ip('-n', host.ns, 'link', 'set', 'eth0', 'up')
  }

  /**
   * Make 127.0.0.1:`port` inside the host's namespace reachable from the test process; returns the
   * root-namespace URL (http://127.0.0.1:<ephemeral>). `dir` holds the Unix socket and the relay log.
   */
  async startApiRelay (host: Host, port: number, dir: string): Promise<string> {
    const socketPath = `${dir}/${host.ns}.relay.sock`
    const script = `
      const net = require('node:net'); const fs = require('node:fs')
      const [socketPath, port] = process.argv.slice(1)
      try { fs.unlinkSync(socketPath) } catch {}
      net.createServer(client => {
        const upstream = net.connect(Number(port), '127.0.0.1')
        client.pipe(upstream); upstream.pipe(client)
        client.on('error', () => upstream.destroy()); upstream.on('error', () => client.destroy())
        client.on('close', () => upstream.destroy()); upstream.on('close', () => client.destroy())
      }).listen(socketPath, () => console.log('relay ready'))`
    const log = openSync(`${dir}/${host.ns}.relay.log`, 'a')
    const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--input-type=commonjs', '-e', script, socketPath, String(port)],
      { stdio: ['ignore', log, log] })
    closeSync(log)
    const sockets = new Set<Socket>()
    const server = createServer(client => {
      sockets.add(client)
      const upstream = connect(socketPath)
      sockets.add(upstream)
      client.pipe(upstream)
      upstream.pipe(client)
      client.on('error', () => { upstream.destroy() })
      upstream.on('error', () => { client.destroy() })
      client.on('close', () => { upstream.destroy(); sockets.delete(client) })
      upstream.on('close', () => { client.destroy(); sockets.delete(upstream) })
    })
    this.relays.push({ child, server, sockets })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => { resolve() })
    })
    const address = server.address()
    if (address == null || typeof address === 'string') throw new Error('relay server has no TCP address')
    return `http://127.0.0.1:${address.port}`
  }

  /** Stop the relays (by PID) and delete every namespace this lab created. Safe to call twice. */
  async destroy (): Promise<void> {
    for (const relay of this.relays.splice(0)) {
      for (const socket of relay.sockets) socket.destroy()
      await new Promise<void>(resolve => { relay.server.close(() => { resolve() }) })
      const { child } = relay
      if (child.pid != null && child.exitCode == null && child.signalCode == null) {
        const exited = new Promise<void>(resolve => {
          const timer = setTimeout(resolve, 5_000)
          child.once('exit', () => { clearTimeout(timer); resolve() })
        })
        try { process.kill(child.pid, 'SIGKILL') } catch {}
        await exited
      }
    }
    const errors: string[] = []
    // hosts first, the switch last (deleting a host namespace also removes its veth pair)
    for (const name of this.created.splice(0).reverse()) {
      const { ok, output } = run(['netns', 'del', name])
      if (!ok) errors.push(`${name}: ${output}`)
    }
    if (errors.length > 0) throw new Error(`could not delete namespaces: ${errors.join('; ')}`)
  }
}
