// The hand-written protobuf of registry/grpc-range.ts against etcd's own .proto files, read by
// protobufjs (what etcd3 loads them with): what this encodes, etcd's schema decodes, and back.
import protobuf from 'protobufjs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {
  decodeLeaseTimeToLiveResponse,
  decodeMemberListResponse,
  decodeRangeResponse,
  decodeStatusResponse,
  encodeLeaseTimeToLiveRequest,
  encodeRangeRequest,
  frame,
  prefixEnd,
  unframe,
} from '../../../src/registry/grpc-range.js'
import {clusterStatusOf, connectionFailure} from '../../../src/registry/registry.js'

const root = protobuf.loadSync(join(import.meta.dirname, '..', '..', '..', 'node_modules', 'etcd3', 'proto', 'rpc.proto'))
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')
const StatusResponse = root.lookupType('etcdserverpb.StatusResponse')
const MemberListResponse = root.lookupType('etcdserverpb.MemberListResponse')
const LeaseTimeToLiveRequest = root.lookupType('etcdserverpb.LeaseTimeToLiveRequest')
const LeaseTimeToLiveResponse = root.lookupType('etcdserverpb.LeaseTimeToLiveResponse')
const encoded = (type: protobuf.Type, value: Record<string, unknown>) => Buffer.from(type.encode(type.fromObject(value)).finish())

describe('etcd range over gRPC', () => {
  it('asks for every key under the prefix, as etcd reads the request', () => {
    const request = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest('/highway/v2/hosts/'))) as {key: Uint8Array; rangeEnd: Uint8Array}
    expect(Buffer.from(request.key).toString()).toBe('/highway/v2/hosts/')
    expect(Buffer.from(request.rangeEnd).toString()).toBe('/highway/v2/hosts0')
    const one = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest('/highway/v2/hosts/a/agent', {only: true}))) as {
      key: Uint8Array
      rangeEnd?: Uint8Array
    }
    expect(Buffer.from(one.key).toString()).toBe('/highway/v2/hosts/a/agent')
    expect(one.rangeEnd).toBeUndefined()
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
        {key: '/highway/v2/hosts/a/agent', lease: '7587887316914405892', modRevision: '7', value: '{}'},
        {key: '/highway/v2/hosts/a/services/api/c1', lease: '0', modRevision: '9007199254740993', value},
      ],
      revision: '9007199254740993',
    })
  })

  it('refuses a truncated answer instead of reading part of it', () => {
    const message = Buffer.from(RangeResponse.encode(RangeResponse.fromObject({kvs: [{key: Buffer.from('k'), value: Buffer.from('v')}]})).finish())
    expect(() => decodeRangeResponse(message.subarray(0, message.length - 1))).toThrow(/truncated/)
    expect(() => unframe(frame(message).subarray(0, 8))).toThrow(/truncated/)
  })

  it('asks for a lease past 2^53 by its exact ID, as etcd reads the request', () => {
    const request = LeaseTimeToLiveRequest.toObject(LeaseTimeToLiveRequest.decode(encodeLeaseTimeToLiveRequest('7587887316914405892')), {longs: String})
    expect(request).toEqual({ID: '7587887316914405892'})
  })

  it('reads the cluster as etcd encodes it: who answered and leads, the members, a lease (expired: TTL -1)', () => {
    const header = {clusterId: '14841639068965178418', memberId: '10276657743932975437', raftTerm: 2, revision: 12}
    const status = decodeStatusResponse(encoded(StatusResponse, {dbSize: 20480, header, leader: '10276657743932975437', raftIndex: 9, version: '3.5.16'}))
    expect(status).toEqual({leader: '10276657743932975437', memberId: '10276657743932975437'})
    const members = decodeMemberListResponse(
      encoded(MemberListResponse, {
        header,
        members: [
          {ID: '10276657743932975437', clientURLs: ['https://127.0.0.1:2379', 'https://10.0.0.1:2379'], name: 'highway', peerURLs: ['https://10.0.0.1:2380']},
          {ID: '42', isLearner: true, peerURLs: ['https://10.0.0.2:2380']},
        ],
      }),
    )
    expect(members).toEqual([
      {
        ID: '10276657743932975437',
        clientURLs: ['https://127.0.0.1:2379', 'https://10.0.0.1:2379'],
        isLearner: false,
        name: 'highway',
        peerURLs: ['https://10.0.0.1:2380'],
      },
      {ID: '42', clientURLs: [], isLearner: true, name: '', peerURLs: ['https://10.0.0.2:2380']},
    ])
    const lease = decodeLeaseTimeToLiveResponse(encoded(LeaseTimeToLiveResponse, {ID: '7587887316914405892', TTL: -1, grantedTTL: 10, header}))
    expect(lease).toEqual({ID: '7587887316914405892', TTL: '-1', grantedTTL: '10'})
    // What `status` shows of it: the same object etcd.ts builds from etcd3's answers.
    expect(clusterStatusOf(status, members, lease)).toEqual({
      answeredBy: '10276657743932975437',
      lease: {grantedTtl: 10, id: '7587887316914405892', ttl: -1},
      members: [
        {
          clientUrls: ['https://127.0.0.1:2379', 'https://10.0.0.1:2379'],
          id: '10276657743932975437',
          leader: true,
          learner: false,
          name: 'highway',
          peerUrls: ['https://10.0.0.1:2380'],
        },
        {clientUrls: [], id: '42', leader: false, learner: true, name: '', peerUrls: ['https://10.0.0.2:2380']},
      ],
    })
  })

  it('names a refused connection in its own words, whichever client met it', () => {
    const refused = 'connect ECONNREFUSED 127.0.0.1:2379'
    expect(connectionFailure(new Error(`14 UNAVAILABLE: No connection established. Last error: Error: ${refused}. Resolution note: `))).toBe(refused)
    expect(connectionFailure(new Error(refused))).toBe(refused)
    expect(connectionFailure(new Error('7 etcdserver: permission denied'))).toBe('7 etcdserver: permission denied')
  })
})
