import {describe, expect, it} from 'vitest'
import {describeDockerHost, firstHost, isConflict, isNotFound, parseEvent} from '../../../src/docker/client.js'

describe('firstHost', () => {
  it.each([
    ['172.17.0.0/16', '172.17.0.1'],
    ['172.18.0.0/16', '172.18.0.1'],
    ['10.0.0.0/8', '10.0.0.1'],
    ['192.168.255.0/24', '192.168.255.1'],
    ['100.64.0.0/10', '100.64.0.1'],
    ['0.0.0.0/0', '0.0.0.1'],
  ])('gives the first host of %s: %s', (subnet, host) => {
    expect(firstHost(subnet)).toBe(host)
  })

  it.each(['', 'abc', '172.17.0.0', '172.17.0/16', '172.17.0.0/', '/16', 'fd00::/64', ' 172.17.0.0/16', '172.17.0.0/16 ', '172.17.0.0/16/8'])(
    'returns undefined for the malformed subnet %j',
    (subnet) => {
      expect(firstHost(subnet)).toBeUndefined()
    },
  )

  // Out-of-range parts must not wrap into a bogus address ('256.0.0.0/8' once gave '0.0.0.1').
  it('returns undefined for an octet above 255', () => {
    expect(firstHost('256.0.0.0/8')).toBeUndefined()
  })

  it('returns undefined for a prefix longer than 32', () => {
    expect(firstHost('172.17.0.0/33')).toBeUndefined()
  })

  it('returns undefined for a subnet too small to have a gateway', () => {
    expect(firstHost('255.255.255.255/32')).toBeUndefined()
    expect(firstHost('10.0.0.0/31')).toBeUndefined()
  })
})

describe('describeDockerHost', () => {
  it('names DOCKER_HOST when set, else the local socket', () => {
    expect(describeDockerHost({DOCKER_HOST: 'tcp://10.0.0.2:2376'})).toBe('tcp://10.0.0.2:2376')
    expect(describeDockerHost({})).toBe('unix:///var/run/docker.sock')
    expect(describeDockerHost({DOCKER_HOST: ''})).toBe('unix:///var/run/docker.sock')
  })
})

describe('isNotFound / isConflict', () => {
  it('reads the status code of a dockerode error', () => {
    expect(isNotFound({statusCode: 404})).toBe(true)
    expect(isNotFound({statusCode: 409})).toBe(false)
    expect(isNotFound(new Error('boom'))).toBe(false)
    expect(isConflict({statusCode: 409})).toBe(true)
    expect(isConflict({statusCode: 404})).toBe(false)
  })
})

describe('parseEvent', () => {
  it('reads the action without its detail, and the signal of a kill (the drain of docker stop starts there)', () => {
    const kill = JSON.stringify({Action: 'kill', Actor: {Attributes: {name: 'web', signal: '15'}, ID: 'abc'}, Type: 'container'})
    expect(parseEvent(kill)).toEqual({action: 'kill', id: 'abc', signal: 15})
    expect(parseEvent(JSON.stringify({Action: 'health_status: healthy', Actor: {ID: 'abc'}}))).toEqual({action: 'health_status', id: 'abc'})
    expect(parseEvent(JSON.stringify({Action: 'kill', Actor: {Attributes: {signal: 'TERM'}, ID: 'abc'}}))).toEqual({action: 'kill', id: 'abc'})
  })

  it('skips lines that are not a container event with an ID', () => {
    expect(parseEvent('not json')).toBeNull()
    expect(parseEvent(JSON.stringify({Action: 'start'}))).toBeNull()
  })
})
