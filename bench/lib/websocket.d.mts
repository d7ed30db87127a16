export function echoServerSource(port?: number): string

export interface WebSocketClient {
  /** Sends a text frame (under 126 bytes); resolves with the server's echo. */
  send(text: string): Promise<string>
  /** Resolves, with why, once the connection has ended. */
  closed: Promise<string>
  close(): void
  /** True until the connection has ended. */
  open(): boolean
}

export function openWebSocket(options: {address: string; port?: number; host: string; timeoutMs?: number}): Promise<WebSocketClient>
