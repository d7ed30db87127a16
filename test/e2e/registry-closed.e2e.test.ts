// The registry as a hostile neighbour sees it: a container on the default bridge, or on a network of
// its own (as compose makes), tries every address etcd could answer at. Only highway's own parts reach
// it: the agent over the registry network, the CLI on the host's loopback. Real containers, real TCP
// connects (etcd speaks TLS and wants a client certificate, so an HTTP client would fail even where
// etcd is reachable: the connect is what tells; test/e2e/registry-tls.e2e.test.ts covers the TLS).
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {bridgeIp, docker, dockerResult, ensureAppImage, highway, infraContainers, makeEnv, PURGE_KEEPING_IMAGES, run} from './harness.js'

const env = makeEnv()
const OTHER_NETWORK = 'highway-e2e-neighbours'
let ip: string
let etcdIp: string
let registryGateway: string
/** highway's own image has node, for a TCP connect with a deadline. */
let infraImage: string

/** Whether a container on `network` can open a TCP connection to `address`:2379 within 3 s: 'open', or why not. */
async function connectFrom(network: string, address: string): Promise<string> {
  const script =
    `const s = require('net').connect(2379, process.argv[1]); s.setTimeout(3000);` +
    `s.on('connect', () => { console.log('open'); s.destroy() }); s.on('timeout', () => { console.log('timeout'); s.destroy() });` +
    `s.on('error', (e) => console.log(e.code))`
  const result = await dockerResult('run', '--rm', '--network', network, infraImage, 'node', '-e', script, address)
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim()
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await highway(['down'], env)
  const up = await highway(['up'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  const {etcd} = await infraContainers()
  infraImage = await docker('inspect', etcd, '--format', '{{.Config.Image}}')
  etcdIp = await docker('inspect', etcd, '--format', '{{(index .NetworkSettings.Networks "highway-registry").IPAddress}}')
  registryGateway = await docker('network', 'inspect', 'highway-registry', '--format', '{{(index .IPAM.Config 0).Gateway}}')
  await dockerResult('network', 'rm', OTHER_NETWORK)
  await docker('network', 'create', OTHER_NETWORK)
})

afterAll(async () => {
  await dockerResult('network', 'rm', OTHER_NETWORK)
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('the registry is closed to neighbours', () => {
  it('answers highway’s own parts: the host on loopback, a container on the registry network by name', async () => {
    const pki = join(env.HIGHWAY_CONFIG_DIR!, 'pki')
    const tls = ['--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'host.crt'), '--key', join(pki, 'host.key')]
    const fromHost = await run('curl', ['-s', '-m', '3', ...tls, 'https://127.0.0.1:2379/version'])
    expect(fromHost.stdout).toContain('etcdserver')
    // The same probe that fails below does connect from where the agent sits: it can tell.
    expect(await connectFrom('highway-registry', 'highway-etcd')).toBe('open')
    expect(await connectFrom('highway-registry', etcdIp)).toBe('open')
  })

  it('cannot be reached from a container on the default bridge, at any address', async () => {
    expect(etcdIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    // 198.19.0.1: highway's own address in the TCP range, where the forwarder serves HTTP and nothing else.
    for (const address of [ip, etcdIp, registryGateway, '127.0.0.1', '198.19.0.1']) {
      expect(await connectFrom('bridge', address), address).not.toBe('open')
    }
  })

  it('cannot be reached from a container on another user-defined network, at any address', async () => {
    for (const address of [ip, etcdIp, registryGateway, '198.19.0.1']) {
      expect(await connectFrom(OTHER_NETWORK, address), address).not.toBe('open')
    }
  })

  it('puts nothing but etcd and the agent on the registry network', async () => {
    const members = await docker('network', 'inspect', 'highway-registry', '--format', '{{range .Containers}}{{.Name}} {{end}}')
    expect(members.trim().split(' ').sort()).toEqual(['highway-agent', 'highway-etcd'])
  })

  it('listens on no wildcard address for 53, 80, 2379 or 2380', async () => {
    const listening = await run('ss', ['-H', '-lntu'])
    expect(listening.code).toBe(0)
    const wildcard = listening.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[4] ?? '')
      .filter((local) => /^(0\.0\.0\.0|\*|\[::\]|::):(53|80|2379|2380)$/.test(local))
    expect(wildcard).toEqual([])
    // And highway's own listeners are there, on the addresses they should be.
    expect(listening.stdout).toContain(`${ip}:80`)
    expect(listening.stdout).toContain(`${ip}:53`)
    expect(listening.stdout).toContain('127.0.0.1:2379')
  })
})
