import {connect, type ClientHttp2Session} from 'node:http2'
import {ETCD_SERVER_NAME, type TlsIdentity} from './pki.js'
import type {ListedKey} from './registry.js'

/**
 * One etcd range read (KV/Range over gRPC) on node's own HTTP/2 client, for `ls` and `status`
 * (cli/lean.ts): the etcd3 package and its gRPC stack take longer to load than those commands
 * take to run. Same wire, same mutual TLS and so the same etcd user (the certificate's CN) as
 * etcd3; etcd's JSON gateway would not do: it calls etcd's gRPC server with etcd's own
 * certificate, so RBAC would see etcd's identity instead of this host's.
 * Only the fields read here are encoded or decoded (etcd's rpc.proto and kv.proto).
 */

export interface RangeAnswer {
  revision: string
  kvs: Array<ListedKey & {modRevision: string}>
}

/** A gRPC status other than OK, as etcd sent it (e.g. 7 PERMISSION_DENIED, "etcdserver: permission denied"). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code} ${message}`)
    this.name = 'GrpcError'
  }
}

/** The key just past every key that starts with `prefix`: etcd's range_end for a prefix. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let index = end.length - 1; index >= 0; index--) {
    if (end[index] < 0xff) {
      end[index]++
      return end.subarray(0, index + 1)
    }
  }
  // All 0xff: to the end of the keyspace.
  return Buffer.from([0])
}

const bytesField = (field: number, value: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(value.length), value])

function varint(value: number): Buffer {
  const bytes: number[] = []
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80)
    value = Math.floor(value / 128)
  }
  bytes.push(value)
  return Buffer.from(bytes)
}

/** The RangeRequest for every key under `prefix`: key = 1, range_end = 2. */
export function encodeRangeRequest(prefix: string): Buffer {
  const key = Buffer.from(prefix)
  return Buffer.concat([bytesField(1, key), bytesField(2, prefixEnd(key))])
}

type Field = {field: number; value: bigint} | {field: number; bytes: Buffer}

/** A protobuf message's fields in order: varints as bigint (etcd's revisions are int64), length-delimited as bytes. */
export function* fields(message: Buffer): Generator<Field> {
  let offset = 0
  const readVarint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (;;) {
      if (offset >= message.length) throw new Error('etcd answered a truncated message')
      const byte = message[offset++]
      result |= BigInt(byte & 0x7f) << shift
      if (byte < 0x80) return result
      shift += 7n
    }
  }
  while (offset < message.length) {
    const tag = Number(readVarint())
    const field = tag >> 3
    switch (tag & 7) {
      case 0:
        yield {field, value: readVarint()}
        break
      case 2: {
        const length = Number(readVarint())
        if (offset + length > message.length) throw new Error('etcd answered a truncated message')
        yield {field, bytes: message.subarray(offset, offset + length)}
        offset += length
        break
      }
      case 1:
        offset += 8
        break
      case 5:
        offset += 4
        break
      default:
        throw new Error(`etcd answered a message with wire type ${tag & 7}`)
    }
  }
}

/** RangeResponse: header = 1 (ResponseHeader, revision = 3), kvs = 2 (KeyValue: key = 1, mod_revision = 3, value = 5). */
export function decodeRangeResponse(message: Buffer): RangeAnswer {
  let revision = '0'
  const kvs: RangeAnswer['kvs'] = []
  for (const top of fields(message)) {
    if (top.field === 1 && 'bytes' in top) {
      for (const header of fields(top.bytes)) if (header.field === 3 && 'value' in header) revision = header.value.toString()
    } else if (top.field === 2 && 'bytes' in top) {
      const kv = {key: '', modRevision: '0', value: ''}
      for (const part of fields(top.bytes)) {
        if (part.field === 1 && 'bytes' in part) kv.key = part.bytes.toString()
        else if (part.field === 3 && 'value' in part) kv.modRevision = part.value.toString()
        else if (part.field === 5 && 'bytes' in part) kv.value = part.bytes.toString()
      }
      kvs.push(kv)
    }
  }
  return {kvs, revision}
}

/** gRPC's framing of one message: not compressed, its length, the message. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(message.length, 1)
  return Buffer.concat([head, message])
}

/** The one message of a unary answer, from its gRPC frame. */
export function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw new Error('etcd answered without a message')
  if (body[0] !== 0) throw new Error('etcd answered a compressed message')
  const length = body.readUInt32BE(1)
  if (body.length < 5 + length) throw new Error('etcd answered a truncated message')
  return body.subarray(5, 5 + length)
}

/** Every key under `prefix` at etcd's current revision, as `tls`'s user (plain HTTP/2 for an http:// endpoint). */
export function rangePrefix(endpoint: string, tls: TlsIdentity | undefined, prefix: string, timeoutMs: number): Promise<RangeAnswer> {
  return new Promise((resolve, reject) => {
    let session: ClientHttp2Session | undefined = undefined
    const finish = (error: Error | null, answer?: RangeAnswer) => {
      clearTimeout(deadline)
      session?.close()
      session?.destroy()
      if (error) reject(error)
      else resolve(answer!)
    }
    const deadline = setTimeout(() => finish(new Error(`no answer from ${endpoint} within ${timeoutMs} ms`)), timeoutMs)
    session = connect(endpoint, tls ? {ca: tls.ca, cert: tls.cert, key: tls.key, servername: ETCD_SERVER_NAME} : {})
    session.on('error', (error) => finish(error))
    const stream = session.request({':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers'})
    const chunks: Buffer[] = []
    let status: {code: number; message: string} | undefined
    const readStatus = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) {
        status = {code: Number(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? ''))}
      }
    }
    stream.on('response', readStatus)
    stream.on('trailers', readStatus)
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    // A refused connection cancels the stream first: report what the connection met, not the cancel.
    stream.on('error', (error: Error) => finish(error.cause instanceof Error ? error.cause : error))
    stream.on('end', () => {
      if (!status) return finish(new Error(`${endpoint} answered without a gRPC status`))
      if (status.code !== 0) return finish(new GrpcError(status.code, status.message))
      try {
        finish(null, decodeRangeResponse(unframe(Buffer.concat(chunks))))
      } catch (error) {
        finish(error as Error)
      }
    })
    stream.end(frame(encodeRangeRequest(prefix)))
  })
}
