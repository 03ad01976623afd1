/**
 * Config and genesis parser fuzzing: random and mutated config files (loadConfigFile + resolveConfig),
 * option values from flags and the environment, handler tables, genesis files (readGenesis) and
 * pre-shared key files. Pass: every input is either accepted or refused with a clear error (ConfigError,
 * CliError, GenesisError or a plain Error with a message) — never a TypeError/RangeError or a non-Error.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfigFile } from '../../src/cli/start.js'
import { optionSpecs, resolveConfig } from '../../src/runtime/config.js'
import { makeGenesis, readGenesis } from '../../src/runtime/consensus/genesis.js'
import { parseHandlerConfig } from '../../src/runtime/tasks/executor.js'
import { generatePsk, readPskFile } from '../../src/runtime/psk.js'
import type { Mutator } from './mutator.js'
import type { Failure } from './run.js'

const te = new TextEncoder()

export async function fuzzParsers (dir: string, count: number, m: Mutator, failures: Failure[], seed: number, validators: string[]): Promise<{ inputs: number, errors: Record<string, number>, failures: number }> {
  mkdirSync(dir, { recursive: true })
  const errors: Record<string, number> = {}
  let failed = 0
  const validConfig = { network: 'lab', name: 'n1', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [`/ip4/127.0.0.1/tcp/4747/p2p/${validators[0] as string}`], capabilities: ['echo', 'cpu'], api: '127.0.0.1:0', heartbeatIntervalMs: 1000, loadShedding: 'steal', handlers: { echo: { command: ['cat'], timeout_ms: 1000 } } }
  const validGenesis = makeGenesis('lab', validators.map((peer_id, i) => ({ peer_id, name: `v${i}` })))
  const validPsk = generatePsk()
  const attempt = (what: string, input: string, fn: () => unknown): void => {
    try {
      fn()
      errors.accepted = (errors.accepted ?? 0) + 1
    } catch (err) {
      const name = err instanceof Error ? err.name : typeof err
      errors[name] = (errors[name] ?? 0) + 1
      const clear = err instanceof Error && err.message.length > 0 && !['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError'].includes(err.name)
      if (!clear) {
        failed++
        failures.push({ kind: 'parser', protocol: `parsers/${what}`, detail: err instanceof Error ? (err.stack ?? err.message) : String(err), seed, hex: Buffer.from(input.slice(0, 4096)).toString('hex') })
      }
    }
  }
  for (let i = 0; i < count; i++) {
    const kind = i % 5
    if (kind === 0) {
      // a config file: mutated JSON value or mutated bytes
      const text = m.chance(0.6) ? (JSON.stringify(m.mutateJson(validConfig, 0)) ?? 'null') : Buffer.from(m.mutateBytes(te.encode(JSON.stringify(validConfig)), []).bytes).toString('latin1')
      const path = join(dir, 'config.json')
      writeFileSync(path, text)
      attempt('config-file', text, () => resolveConfig({}, {}, loadConfigFile(path)))
    } else if (kind === 1) {
      // one option from a flag and one from the environment: a hostile value each
      const spec = m.pick(optionSpecs)
      const value = m.chance(0.5) ? m.hostileValue() : String(m.hostileValue())
      const envValue = String(m.hostileValue()).slice(0, 10_000)
      const other = m.pick(optionSpecs)
      attempt('options', `${spec.flag}=${String(value)} ${other.env}=${envValue}`, () => resolveConfig({ [spec.key]: value }, { [other.env]: envValue }, {}))
    } else if (kind === 2) {
      const text = m.chance(0.6) ? (JSON.stringify(m.mutateJson(validGenesis, 0)) ?? 'null') : Buffer.from(m.mutateBytes(te.encode(JSON.stringify(validGenesis)), []).bytes).toString('latin1')
      const path = join(dir, 'genesis.json')
      writeFileSync(path, text)
      attempt('genesis', text, () => readGenesis(path))
    } else if (kind === 3) {
      const value = m.mutateJson({ echo: { command: ['cat'], timeout_ms: 1000, max_output_bytes: 1024 } }, 0)
      attempt('handlers', JSON.stringify(value) ?? '', () => parseHandlerConfig({ handlers: value }))
    } else {
      const text = Buffer.from(m.mutateBytes(te.encode(validPsk), []).bytes).toString('latin1')
      const path = join(dir, 'swarm.key')
      writeFileSync(path, text)
      attempt('psk', text, () => readPskFile(path))
    }
  }
  return { inputs: count, errors, failures: failed }
}
