// etcd's mutual TLS and per-host roles, tried with a real etcd3 client against the etcd `highway up`
// runs: no certificate (or one from another CA) gets nothing; a second host, made with the real
// `highway join-file`, writes its own range only and reads everyone's. Addresses: the host's loopback
// and 127.0.0.2 as the advertise address (a loopback alias, so no traffic leaves the machine).
import {Etcd3, EtcdPermissionDeniedError, Range} from 'etcd3'
import {readFileSync, statSync} from 'node:fs'
import {get} from 'node:https'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createCa, issue} from '../../src/registry/certificates.js'
import type {JoinFile} from '../../src/registry/provision.js'
import {agentKey, hostPrefix, serviceKey} from '../../src/registry/schema.js'
import {highway, makeEnv, until} from './harness.js'

const env = makeEnv()
const dir = env.HIGHWAY_CONFIG_DIR!
const ADVERTISE = '127.0.0.2'
const LOOPBACK = 'https://127.0.0.1:2379'
const joinPath = join(dir, 'host-b.join')

interface Identity {
  ca: string
  cert?: string
  key?: string
}

let hostA: string
let asA: Identity
let joined: JoinFile
const clients: Etcd3[] = []

/** An etcd3 client as highway's own is built (registry/etcd.ts): the server checked by the name in its certificate. */
function etcdAs(identity: Identity | null, endpoint = LOOPBACK): Etcd3 {
  const client = new Etcd3({
    ...(identity && {
      credentials: {
        rootCertificate: Buffer.from(identity.ca),
        ...(identity.cert && identity.key && {certChain: Buffer.from(identity.cert), privateKey: Buffer.from(identity.key)}),
      },
    }),
    dialTimeout: 3000,
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + 3000}),
    grpcOptions: {'grpc.ssl_target_name_override': 'highway-etcd'},
    hosts: endpoint,
  })
  clients.push(client)
  return client
}

const asB = () => etcdAs({ca: joined.ca, cert: joined.cert, key: joined.key})

/** etcd's HTTP /version with Node's https client: the body, or the error's message. */
function version(identity: Identity): Promise<string> {
  return new Promise((resolve) => {
    const request = get(`${LOOPBACK}/version`, {...identity, servername: 'highway-etcd', timeout: 3000}, (response) => {
      let text = ''
      response.on('data', (chunk) => (text += chunk))
      response.on('end', () => resolve(text))
    })
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', (error) => resolve(`error: ${error.message}`))
  })
}

beforeAll(async () => {
  await highway(['down'], env)
  const up = await highway(['up', '--advertise-ip', ADVERTISE], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  hostA = (JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as {hostId: string}).hostId
  const pki = (file: string) => readFileSync(join(dir, 'pki', file), 'utf8')
  asA = {ca: pki('ca.crt'), cert: pki('host.crt'), key: pki('host.key')}
  const made = await highway(['join-file', '--out', joinPath], env)
  expect(made.code, made.stdout + made.stderr).toBe(0)
  joined = JSON.parse(readFileSync(joinPath, 'utf8')) as JoinFile
}, 180_000)

afterAll(async () => {
  for (const client of clients) client.close()
  await highway(['down'], env)
})

describe('etcd wants a client certificate from highway’s CA', () => {
  it('refuses a client without a certificate, for reads and writes, at the TLS handshake', async () => {
    const anonymous = etcdAs({ca: asA.ca})
    await expect(anonymous.get(agentKey(hostA)).string()).rejects.toThrow()
    await expect(anonymous.put(`${hostPrefix(hostA)}intruder`).value('x')).rejects.toThrow()
    expect(await version({ca: asA.ca})).toMatch(/^error: /)
    // Plain text gets nothing either.
    const plain = etcdAs(null, 'http://127.0.0.1:2379')
    await expect(plain.get(agentKey(hostA)).string()).rejects.toThrow()
    // The same request with this host's certificate is answered: the refusals above are the certificate's.
    expect(await version(asA)).toContain('etcdserver')
    expect(JSON.parse((await etcdAs(asA).get(agentKey(hostA)).string()) ?? 'null')).toMatchObject({hostId: hostA})
  })

  it('refuses a certificate from another CA, even one that calls itself root', async () => {
    const other = await createCa()
    const forged = await issue(other, {commonName: 'root'})
    const impostor = etcdAs({ca: asA.ca, ...forged})
    await expect(impostor.get(agentKey(hostA)).string()).rejects.toThrow()
    await expect(impostor.put(`${hostPrefix(hostA)}intruder`).value('x')).rejects.toThrow()
    expect(await version({ca: asA.ca, ...forged})).toMatch(/^error: /)
  })

  it('is reached on the advertise address too, where other hosts dial it, with the same checks', async () => {
    const remote = etcdAs({ca: joined.ca, cert: joined.cert, key: joined.key}, joined.endpoints[0])
    expect(joined.endpoints).toEqual([`https://${ADVERTISE}:2379`])
    expect(JSON.parse((await remote.get(agentKey(hostA)).string()) ?? 'null')).toMatchObject({hostId: hostA})
    await expect(etcdAs({ca: asA.ca}, joined.endpoints[0]).get(agentKey(hostA)).string()).rejects.toThrow()
  })
})

describe('each host writes its own keys only, and reads everyone’s', () => {
  it('lets host B write under its own prefix, plain and under a lease', async () => {
    const b = asB()
    const key = `${hostPrefix(joined.hostId)}e2e-plain`
    await b.put(key).value('mine')
    expect(await b.get(key).string()).toBe('mine')
    await b.delete().key(key)

    const lease = b.lease(10)
    const leased = serviceKey({containerId: 'e2e-container', hostId: joined.hostId, name: 'e2e-leased'})
    await lease.put(leased).value('held')
    expect(await b.get(leased).string()).toBe('held')
    await lease.revoke()
    expect(await b.get(leased).string()).toBeNull()
  })

  it('refuses host B a write or a delete under host A’s prefix, or anywhere outside its own', async () => {
    const b = asB()
    const aKey = serviceKey({containerId: 'forged', hostId: hostA, name: 'api'})
    await expect(b.put(aKey).value('{}')).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    await expect(b.lease(10).put(aKey).value('{}')).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    await expect(b.delete().key(agentKey(hostA))).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    await expect(b.put('/highway/v2/hosts/forged').value('{}')).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    await expect(b.put('/elsewhere').value('x')).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    // A's report (its agent's, written with A's identity) is still there, untouched.
    expect(JSON.parse((await b.get(agentKey(hostA)).string()) ?? 'null')).toMatchObject({hostId: hostA})
    expect(await etcdAs(asA).get(aKey).string()).toBeNull()
  })

  it('lets host B read and watch what host A writes', async () => {
    const b = asB()
    const seen: string[] = []
    const watcher = await b.watch().prefix(hostPrefix(hostA)).create()
    watcher.on('put', (kv) => seen.push(`${kv.key.toString()}=${kv.value.toString()}`))
    try {
      const key = `${hostPrefix(hostA)}e2e-watched`
      await etcdAs(asA).put(key).value('from-a')
      await until('host B’s watch to see host A’s put', async () => (seen.includes(`${key}=from-a`) ? true : undefined), 5000)
      expect(await b.get(key).string()).toBe('from-a')
      await etcdAs(asA).delete().key(key)
    } finally {
      await watcher.cancel()
    }
  })

  it('gives a host no say over etcd’s users and roles', async () => {
    const b = asB()
    await expect(b.role(`host-${joined.hostId}`).grant({permission: 'Readwrite', range: Range.prefix('/')})).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
    await expect(b.user('e2e-intruder').create('password')).rejects.toBeInstanceOf(EtcdPermissionDeniedError)
  })
})

describe('the files', () => {
  it('keeps the join file 0600, with the CA certificate but never the CA key', () => {
    expect(statSync(joinPath).mode & 0o777).toBe(0o600)
    const text = readFileSync(joinPath, 'utf8')
    const caKey = readFileSync(join(dir, 'pki', 'ca.key'), 'utf8')
    expect(text).not.toContain(caKey.split('\n')[1])
    expect(joined.ca).toBe(asA.ca)
  })

  it('keeps the PKI directory 0700 and every key and certificate in it 0600', () => {
    expect(statSync(join(dir, 'pki')).mode & 0o777).toBe(0o700)
    for (const file of ['ca.crt', 'ca.key', 'etcd.crt', 'etcd.key', 'root.crt', 'root.key', 'host.crt', 'host.key']) {
      expect(statSync(join(dir, 'pki', file)).mode & 0o777, file).toBe(0o600)
    }
  })

  it('sets etcd’s users up once: `up` again changes nothing, and host B keeps working', async () => {
    const again = await highway(['up'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('nothing to change')
    expect(JSON.parse((await asB().get(agentKey(hostA)).string()) ?? 'null')).toMatchObject({hostId: hostA})
  })

  it('comes back after `down`: `up --advertise-ip` with the PKI and etcd’s data kept, and host B still works', async () => {
    const down = await highway(['down'], env)
    expect(down.code, down.stderr).toBe(0)
    // It asks the stopped etcd for its peers first (best effort): that must not hold up setting up its users.
    const up = await highway(['up', '--advertise-ip', ADVERTISE], env)
    expect(up.code, up.stdout + up.stderr).toBe(0)
    expect(JSON.parse((await asB().get(agentKey(hostA)).string()) ?? 'null')).toMatchObject({hostId: hostA})
  })
})
