import {connect} from 'node:http2'
import {ETCD_SERVER_NAME, type TlsIdentity} from './pki.js'
import {clusterStatusOf, type ClusterStatus, type ListedKey, type WireMember} from './registry.js'
import {agentKey} from './schema.js'

/**
 * etcd's unary gRPC calls that `ls` and `status` make (cli/lean.ts), on node's own HTTP/2 client:
 * KV/Range, Maintenance/Status, Cluster/MemberList and Lease/LeaseTimeToLive. The etcd3 package and
 * its gRPC stack take longer to load than those commands take to run. Same wire, same mutual TLS
 * and so the same etcd user (the certificate's CN) as etcd3; etcd's JSON gateway would not do: it
 * calls etcd's gRPC server with etcd's own certificate, so RBAC would see etcd's identity instead
 * of this host's. Only the fields read here are encoded or decoded (etcd's rpc.proto and kv.proto).
 */

export interface RangeAnswer {
  revision: string
  /** `lease`: the ID of the lease the key is put under, '0' for none. */
  kvs: Array<ListedKey & {modRevision: string; lease: string}>
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

/** A varint as protobuf writes it; an int64 or uint64 (etcd's IDs pass 2^53) comes as a bigint. */
function varint(value: number | bigint): Buffer {
  let rest = BigInt.asUintN(64, BigInt(value))
  const bytes: number[] = []
  while (rest > 0x7fn) {
    bytes.push(Number(rest & 0x7fn) | 0x80)
    rest >>= 7n
  }
  bytes.push(Number(rest))
  return Buffer.from(bytes)
}

/** The RangeRequest for every key under `prefix` (key = 1, range_end = 2), or for `key` alone. */
export function encodeRangeRequest(prefix: string, options: {only?: boolean} = {}): Buffer {
  const key = Buffer.from(prefix)
  return options.only ? bytesField(1, key) : Buffer.concat([bytesField(1, key), bytesField(2, prefixEnd(key))])
}

/** LeaseTimeToLiveRequest: ID = 1 (int64, given as decimal text). */
export function encodeLeaseTimeToLiveRequest(id: string): Buffer {
  return Buffer.concat([varint(1 << 3), varint(BigInt(id))])
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

/** An int64 field as decimal text: protobuf sends a negative one (a lease's TTL of -1) as its 64-bit two's complement. */
const int64 = (value: bigint) => BigInt.asIntN(64, value).toString()

/** ResponseHeader: member_id = 2 (uint64), revision = 3 (int64). */
function decodeHeader(message: Buffer): {memberId: string; revision: string} {
  const header = {memberId: '0', revision: '0'}
  for (const part of fields(message)) {
    if (part.field === 2 && 'value' in part) header.memberId = part.value.toString()
    else if (part.field === 3 && 'value' in part) header.revision = int64(part.value)
  }
  return header
}

/** RangeResponse: header = 1, kvs = 2 (KeyValue: key = 1, mod_revision = 3, value = 5, lease = 6). */
export function decodeRangeResponse(message: Buffer): RangeAnswer {
  let revision = '0'
  const kvs: RangeAnswer['kvs'] = []
  for (const top of fields(message)) {
    if (top.field === 1 && 'bytes' in top) {
      revision = decodeHeader(top.bytes).revision
    } else if (top.field === 2 && 'bytes' in top) {
      const kv = {key: '', lease: '0', modRevision: '0', value: ''}
      for (const part of fields(top.bytes)) {
        if (part.field === 1 && 'bytes' in part) kv.key = part.bytes.toString()
        else if (part.field === 3 && 'value' in part) kv.modRevision = int64(part.value)
        else if (part.field === 5 && 'bytes' in part) kv.value = part.bytes.toString()
        else if (part.field === 6 && 'value' in part) kv.lease = int64(part.value)
      }
      kvs.push(kv)
    }
  }
  return {kvs, revision}
}

/** StatusResponse: header = 1, leader = 4 (uint64). */
export function decodeStatusResponse(message: Buffer): {leader: string; memberId: string} {
  const status = {leader: '0', memberId: '0'}
  for (const top of fields(message)) {
    if (top.field === 1 && 'bytes' in top) status.memberId = decodeHeader(top.bytes).memberId
    else if (top.field === 4 && 'value' in top) status.leader = top.value.toString()
  }
  return status
}

/** MemberListResponse: members = 2 (Member: ID = 1 (uint64), name = 2, peerURLs = 3, clientURLs = 4, isLearner = 5). */
export function decodeMemberListResponse(message: Buffer): WireMember[] {
  const members: WireMember[] = []
  for (const top of fields(message)) {
    if (top.field !== 2 || !('bytes' in top)) continue
    const member: WireMember = {ID: '0', clientURLs: [], isLearner: false, name: '', peerURLs: []}
    for (const part of fields(top.bytes)) {
      if (part.field === 1 && 'value' in part) member.ID = part.value.toString()
      else if (part.field === 2 && 'bytes' in part) member.name = part.bytes.toString()
      else if (part.field === 3 && 'bytes' in part) member.peerURLs.push(part.bytes.toString())
      else if (part.field === 4 && 'bytes' in part) member.clientURLs.push(part.bytes.toString())
      else if (part.field === 5 && 'value' in part) member.isLearner = part.value !== 0n
    }
    members.push(member)
  }
  return members
}

/** LeaseTimeToLiveResponse: ID = 2, TTL = 3, grantedTTL = 4 (int64 each; TTL -1 for a lease that has expired). */
export function decodeLeaseTimeToLiveResponse(message: Buffer): {ID: string; TTL: string; grantedTTL: string} {
  const lease = {ID: '0', TTL: '0', grantedTTL: '0'}
  for (const top of fields(message)) {
    if (!('value' in top)) continue
    if (top.field === 2) lease.ID = int64(top.value)
    else if (top.field === 3) lease.TTL = int64(top.value)
    else if (top.field === 4) lease.grantedTTL = int64(top.value)
  }
  return lease
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

/** One unary gRPC call on an open session: the answer's message, or what etcd (or the connection) said. */
export type UnaryCall = (path: string, request: Buffer) => Promise<Buffer>

/**
 * Opens one HTTP/2 session to `endpoint` as `tls`'s user (plain HTTP/2 for an http:// endpoint),
 * lets `work` make its calls on it, and closes it. `timeoutMs` bounds the whole of it.
 */
export function withSession<T>(endpoint: string, tls: TlsIdentity | undefined, timeoutMs: number, work: (call: UnaryCall) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (error: Error | null, answer?: T) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      session.close()
      session.destroy()
      if (error) reject(error)
      else resolve(answer!)
    }
    const deadline = setTimeout(() => finish(new Error(`no answer from ${endpoint} within ${timeoutMs} ms`)), timeoutMs)
    const session = connect(endpoint, tls ? {ca: tls.ca, cert: tls.cert, key: tls.key, servername: ETCD_SERVER_NAME} : {})
    session.on('error', (error) => finish(error))
    const call: UnaryCall = (path, request) =>
      new Promise((resolveCall, rejectCall) => {
        const stream = session.request({':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers'})
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
        stream.on('error', (error: Error) => rejectCall(error.cause instanceof Error ? error.cause : error))
        stream.on('end', () => {
          if (!status) return rejectCall(new Error(`${endpoint} answered without a gRPC status`))
          if (status.code !== 0) return rejectCall(new GrpcError(status.code, status.message))
          try {
            resolveCall(unframe(Buffer.concat(chunks)))
          } catch (error) {
            rejectCall(error as Error)
          }
        })
        stream.end(frame(request))
      })
    work(call).then(
      (answer) => finish(null, answer),
      (error: Error) => finish(error),
    )
  })
}

/** Every key under `prefix` at etcd's current revision. */
export function rangePrefix(endpoint: string, tls: TlsIdentity | undefined, prefix: string, timeoutMs: number): Promise<RangeAnswer> {
  return withSession(endpoint, tls, timeoutMs, async (call) => decodeRangeResponse(await call('/etcdserverpb.KV/Range', encodeRangeRequest(prefix))))
}

/** RegistryClient.clusterStatus, asked of the member at `endpoint`: the same calls etcd.ts makes through etcd3, on one session. */
export function clusterStatusAt(endpoint: string, tls: TlsIdentity | undefined, hostId: string, timeoutMs: number): Promise<ClusterStatus> {
  return withSession(endpoint, tls, timeoutMs, async (call) => {
    const none = Buffer.alloc(0)
    const [status, members, held] = await Promise.all([
      call('/etcdserverpb.Maintenance/Status', none).then(decodeStatusResponse),
      call('/etcdserverpb.Cluster/MemberList', none).then(decodeMemberListResponse),
      call('/etcdserverpb.KV/Range', encodeRangeRequest(agentKey(hostId), {only: true})).then(decodeRangeResponse),
    ])
    const leaseId = held.kvs[0]?.lease
    const lease =
      leaseId && leaseId !== '0'
        ? decodeLeaseTimeToLiveResponse(await call('/etcdserverpb.Lease/LeaseTimeToLive', encodeLeaseTimeToLiveRequest(leaseId)))
        : null
    return clusterStatusOf(status, members, lease)
  })
}
