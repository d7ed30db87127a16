import {createConnection} from 'node:net'

/**
 * HAProxy's master CLI (master-worker mode, `-S <socket>`): `reload` starts new workers on the new
 * config while old ones finish their connections. HAProxy 2.7+ answers "Success=1" or "Success=0"
 * followed by the new workers' startup messages.
 */
export function masterCommand(socketPath: string, command: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath)
    let output = ''
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`HAProxy master did not answer "${command}" within ${timeoutMs} ms`)))
    socket.on('connect', () => socket.end(`${command}\n`))
    socket.on('data', (chunk) => (output += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(output))
  })
}

export async function reload(socketPath: string): Promise<void> {
  const output = await masterCommand(socketPath, 'reload')
  if (!/Success=1/.test(output)) {
    throw new Error(`HAProxy refused the reload: ${output.trim() || 'no answer'}`)
  }
}
