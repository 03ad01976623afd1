/**
 * `mesh psk generate [--out FILE] [--force] [--json]`: a new pre-shared key for a private network, in
 * Kubo's swarm.key format (src/runtime/psk.ts). Give the same file to every node with --psk-file.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { CliError } from './client.js'
import { generatePsk, parsePsk, pskFingerprint } from '../runtime/psk.js'

export function addPskCommands (program: Command): void {
  const psk = program.command('psk')
    .description('pre-shared keys for private networks (only nodes holding the key can connect)')
  psk.command('generate')
    .description('write a new pre-shared key (swarm.key format) to a file, or print it')
    .option('--out <file>', 'write it here (mode 0600); without it the key is printed')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print {"file", "fingerprint"} (and "key" when printed)')
    .addHelpText('after', `
Every node of the private network starts with the same file:
  mesh psk generate --out ./swarm.key
  mesh start --psk-file ./swarm.key ...        (or MESH_PSK_FILE, or "pskFile" in the config file)
A node without the key (or with another one) cannot complete a handshake with them. The key is a
secret: copy it to the other machines over a channel you trust. The fingerprint names it without
revealing it, so two operators can compare keys.`)
    .action((options: { out?: string, force?: boolean, json?: boolean }) => {
      const text = generatePsk()
      const fingerprint = pskFingerprint(parsePsk(text))
      if (options.out == null) {
        process.stdout.write(options.json === true ? JSON.stringify({ file: null, fingerprint, key: text }) + '\n' : text)
        return
      }
      const file = resolve(options.out)
      if (existsSync(file) && options.force !== true) throw new CliError(`--out: ${file} exists; pass --force to replace it (every node holding the old key would then be shut out)`, 1)
      try {
        writeFileSync(file, text, { mode: 0o600 })
      } catch (err) {
        throw new CliError(`--out: cannot write ${file} (${(err as Error).message})`, 1)
      }
      if (options.json === true) console.log(JSON.stringify({ file, fingerprint }))
      else console.log(`wrote a new pre-shared key to ${file} (fingerprint ${fingerprint}); start every node with --psk-file ${file}`)
    })
}
