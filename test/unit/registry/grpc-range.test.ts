// The hand-written protobuf of registry/grpc-range.ts against etcd's own .proto files, read by
// protobufjs (what etcd3 loads them with): what this encodes, etcd's schema decodes, and back.
import protobuf from 'protobufjs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {decodeRangeResponse, encodeRangeRequest, frame, prefixEnd, unframe} from '../../../src/registry/grpc-range.js'

const root = protobuf.loadSync(join(import.meta.dirname, '..', '..', '..', 'node_modules', 'etcd3', 'proto', 'rpc.proto'))
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')

describe('etcd range over gRPC', () => {
  it('asks for every key under the prefix, as etcd reads the request', () => {
    const request = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest('/highway/v2/hosts/'))) as {key: Uint8Array; rangeEnd: Uint8Array}
    expect(Buffer.from(request.key).toString()).toBe('/highway/v2/hosts/')
    expect(Buffer.from(request.rangeEnd).toString()).toBe('/highway/v2/hosts0')
  })

  it('ends a prefix past its last byte below 0xff', () => {
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]))
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]))
  })

  it('reads the revision and every key, value and mod revision of an answer etcd encodes', () => {
    const value = 'x'.repeat(300) + ' é'
    const message = RangeResponse.encode(
      RangeResponse.fromObject({
        count: 2,
        header: {clusterId: '14841639068965178418', memberId: '10276657743932975437', raftTerm: 2, revision: '9007199254740993'},
        kvs: [
          {
            createRevision: 5,
            key: Buffer.from('/highway/v2/hosts/a/agent'),
            lease: '7587887316914405892',
            modRevision: 7,
            value: Buffer.from('{}'),
            version: 2,
          },
          {key: Buffer.from('/highway/v2/hosts/a/services/api/c1'), modRevision: '9007199254740993', value: Buffer.from(value)},
        ],
        more: false,
      }),
    ).finish()
    expect(decodeRangeResponse(unframe(frame(Buffer.from(message))))).toEqual({
      kvs: [
        {key: '/highway/v2/hosts/a/agent', modRevision: '7', value: '{}'},
        {key: '/highway/v2/hosts/a/services/api/c1', modRevision: '9007199254740993', value},
      ],
      revision: '9007199254740993',
    })
  })

  it('refuses a truncated answer instead of reading part of it', () => {
    const message = Buffer.from(RangeResponse.encode(RangeResponse.fromObject({kvs: [{key: Buffer.from('k'), value: Buffer.from('v')}]})).finish())
    expect(() => decodeRangeResponse(message.subarray(0, message.length - 1))).toThrow(/truncated/)
    expect(() => unframe(frame(message).subarray(0, 8))).toThrow(/truncated/)
  })
})
