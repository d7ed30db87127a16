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

interface ProgressLine {
  stream?: string
  status?: string
  error?: string
  errorDetail?: {message?: string}
}

/**
 * Reads a build or pull stream to its end, failing on the first line that carries an error:
 * docker-modem's followProgress reports success even then.
 */
export function followStream(stream: NodeJS.ReadableStream, onLine: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined
    // Registered before the 'end' listener below, so the last line is seen before the verdict.
    eachLine(stream, (raw) => {
      let line: ProgressLine
      try {
        line = JSON.parse(raw) as ProgressLine
      } catch {
        return
      }
      if (line.error || line.errorDetail) {
        failure ??= new Error((line.errorDetail?.message ?? line.error ?? 'unknown error').trim())
      }
      const text = (line.stream ?? line.status ?? '').trim()
      if (text) onLine(text)
    })
    stream.on('error', reject)
    stream.on('end', () => {
      if (failure) reject(failure)
      else resolve()
    })
  })
}
