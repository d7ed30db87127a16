import {StringDecoder} from 'node:string_decoder'

/**
 * Calls `onLine` for every non-empty line of a newline-delimited stream (Docker's events and its
 * build/pull progress), the unterminated tail included at the end. A decoder, not chunk.toString():
 * a multi-byte character may be split across chunks.
 */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8')
  let buffer = ''
  stream.on('data', (chunk: Buffer) => {
    buffer += decoder.write(chunk)
    let newline
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim()
      buffer = buffer.slice(newline + 1)
      if (line) onLine(line)
    }
  })
  stream.on('end', () => {
    const tail = (buffer + decoder.end()).trim()
    buffer = ''
    if (tail) onLine(tail)
  })
}
