import {chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join as joinPath} from 'node:path'
import {describe, expect, it} from 'vitest'
import {hostGrants, hostUser} from '../../../src/registry/access.js'
import {issuedBy, subjectOf} from '../../../src/registry/certificates.js'
import {PkiStore, pkiDir} from '../../../src/registry/pki.js'
import {ensureLocalPki, joinedIdentity, makeJoinFile, memberPki, readJoinFile, storeJoin, writeJoinFile} from '../../../src/registry/provision.js'
import {agentKey, hostPrefix, serviceKey} from '../../../src/registry/schema.js'
import {rejectedUserError, userError} from '../support/user-error.js'

const scratch = () => mkdtempSync(joinPath(tmpdir(), 'highway-pki-test-'))
const store = () => new PkiStore(joinPath(scratch(), 'pki'))
const mode = (path: string) => statSync(path).mode & 0o777

describe('PkiStore', () => {
  it('lives under highway’s config directory', () => {
    expect(pkiDir({HIGHWAY_CONFIG_DIR: '/somewhere/highway'})).toBe('/somewhere/highway/pki')
  })

  it('keeps every file 0600 in a 0700 directory', () => {
    const pki = store()
    pki.write('root', {cert: 'C', key: 'K'})
    expect(mode(pki.dir)).toBe(0o700)
    expect(readdirSync(pki.dir).sort()).toEqual(['root.crt', 'root.key'])
    for (const file of readdirSync(pki.dir)) expect(mode(joinPath(pki.dir, file)), file).toBe(0o600)
    expect(pki.pair('root')).toEqual({cert: 'C', key: 'K'})
  })

  it('answers null for what it does not hold, and an identity only with the CA, certificate and key together', () => {
    const pki = store()
    expect(pki.pair('host')).toBeNull()
    expect(pki.identity('host')).toBeNull()
    pki.write('host', {cert: 'C', key: 'K'})
    expect(pki.identity('host')).toBeNull()
    pki.write('ca', {cert: 'CA'})
    expect(pki.identity('host')).toEqual({ca: 'CA', cert: 'C', key: 'K'})
    pki.remove('host')
    expect(pki.identity('host')).toBeNull()
  })

  it('refuses a directory others may enter', () => {
    const pki = store()
    pki.write('ca', {cert: 'CA'})
    chmodSync(pki.dir, 0o755)
    expect(userError(() => pki.cert('ca')).message).toMatch(/open to other users \(mode 755\)/)
    expect(userError(() => pki.write('ca', {cert: 'x'})).suggestion).toBe(`chmod 700 ${pki.dir}`)
  })
})

describe('etcd roles', () => {
  it('let a host write its own range only, and read the whole tree', () => {
    expect(hostUser('abc')).toBe('host-abc')
    expect(hostGrants('abc')).toEqual([
      {permission: 'Readwrite', prefix: '/highway/v2/hosts/abc/'},
      {permission: 'Read', prefix: '/highway/v2/'},
    ])
    const writable = hostGrants('abc').find((grant) => grant.permission === 'Readwrite')!.prefix
    expect(serviceKey({containerId: 'c', hostId: 'abc', name: 'api'}).startsWith(writable)).toBe(true)
    expect(agentKey('abc').startsWith(writable)).toBe(true)
    expect(writable).toBe(hostPrefix('abc'))
    expect(agentKey('abcd').startsWith(writable)).toBe(false)
  })
})

describe('ensureLocalPki', () => {
  it('makes a CA and etcd’s, root’s and this host’s certificates, each signed by it', async () => {
    const pki = store()
    const made = await ensureLocalPki(pki, {advertiseIp: '', hostId: 'aaaa'})
    const ca = pki.pair('ca')!
    for (const identity of [made.etcd, made.root, made.host]) {
      expect(identity.ca).toBe(ca.cert)
      expect(issuedBy(identity.cert, ca.cert)).toBe(true)
    }
    expect(subjectOf(made.etcd.cert)).toEqual({commonName: 'highway-etcd', dnsNames: ['highway-etcd'], ips: ['127.0.0.1']})
    expect(subjectOf(made.root.cert).commonName).toBe('root')
    expect(subjectOf(made.host.cert).commonName).toBe('host-aaaa')
    expect(pki.identity('host')).toEqual(made.host)
    expect(pki.identity('root')).toEqual(made.root)
  })

  it('keeps what is right, and reissues only what must name something else', async () => {
    const pki = store()
    const first = await ensureLocalPki(pki, {hostId: 'aaaa'})
    expect(await ensureLocalPki(pki, {hostId: 'aaaa'})).toEqual(first)
    const advertised = await ensureLocalPki(pki, {advertiseIp: '10.1.0.1', hostId: 'aaaa'})
    expect(subjectOf(advertised.etcd.cert).ips).toEqual(['127.0.0.1', '10.1.0.1'])
    expect({...advertised, etcd: null}).toEqual({...first, etcd: null})
    const renamed = await ensureLocalPki(pki, {advertiseIp: '10.1.0.1', hostId: 'bbbb'})
    expect(subjectOf(renamed.host.cert).commonName).toBe('host-bbbb')
    expect(renamed.etcd).toEqual(advertised.etcd)
    expect(renamed.root).toEqual(first.root)
  })

  it('reissues certificates a CA other than its own signed', async () => {
    const pki = store()
    const first = await ensureLocalPki(pki, {hostId: 'aaaa'})
    pki.remove('ca')
    const again = await ensureLocalPki(pki, {hostId: 'aaaa'})
    expect(again.host.ca).not.toBe(first.host.ca)
    for (const identity of [again.etcd, again.root, again.host]) expect(issuedBy(identity.cert, again.host.ca)).toBe(true)
  })
})

describe('join files', () => {
  async function madeOnA() {
    const a = store()
    await ensureLocalPki(a, {advertiseIp: '10.1.0.1', hostId: 'aaaa'})
    const join = await makeJoinFile(a, {endpoints: ['https://10.1.0.1:2379'], hostId: 'bbbb'})
    return {a, join}
  }

  it('carry the CA certificate, never its key, and the new host’s own identity', async () => {
    const {a, join} = await madeOnA()
    expect(join.ca).toBe(a.cert('ca'))
    expect(JSON.stringify(join)).not.toContain(a.pair('ca')!.key.split('\n')[1])
    expect(subjectOf(join.cert).commonName).toBe('host-bbbb')
    expect(issuedBy(join.cert, join.ca)).toBe(true)
  })

  it('are written 0600, never over an existing file, and read back as written', async () => {
    const {join} = await madeOnA()
    const path = joinPath(scratch(), 'b.join')
    writeJoinFile(path, join)
    expect(mode(path)).toBe(0o600)
    expect(readJoinFile(path)).toEqual(join)
    expect(userError(() => writeJoinFile(path, join)).message).toBe(`${path} exists`)
  })

  it('give the joining host the CA certificate and its identity, and drop a CA of its own', async () => {
    const {join} = await madeOnA()
    const b = store()
    await ensureLocalPki(b, {hostId: 'cccc'})
    storeJoin(b, join)
    expect(b.pair('ca')).toBeNull()
    expect(b.cert('ca')).toBe(join.ca)
    expect(b.pair('etcd')).toBeNull()
    expect(b.pair('root')).toBeNull()
    expect(joinedIdentity(b, 'bbbb')).toEqual({ca: join.ca, cert: join.cert, key: join.key})
    expect(userError(() => joinedIdentity(b, 'cccc')).suggestion).toMatch(/join-file/)
    for (const file of readdirSync(b.dir)) expect(mode(joinPath(b.dir, file)), file).toBe(0o600)
  })

  it.each([
    ['not JSON', () => 'nope'],
    ['another kind of file', (text: string) => text.replace('"highwayJoin": 1', '"highwayJoin": 2')],
    ['a host id that is not one', (text: string) => text.replace('"hostId": "bbbb"', '"hostId": "../aaaa"')],
    ['a plain-text endpoint', (text: string) => text.replace('https://10.1.0.1:2379', 'http://10.1.0.1:2379')],
    ['a certificate for another host', (text: string) => text.replace('"hostId": "bbbb"', '"hostId": "dddd"')],
    ['no key', (text: string) => text.replace(/"key": "[^"]*"/, '"key": ""')],
  ])('refuses a join file with %s', async (_what, change) => {
    const {join} = await madeOnA()
    const path = joinPath(scratch(), 'b.join')
    writeFileSync(path, change(`${JSON.stringify(join, null, 2)}\n`))
    expect(userError(() => readJoinFile(path)).suggestion).toMatch(/join-file --out/)
  })

  it('for a member, carry etcd’s certificate for its address and root’s, and give them to the joining host', async () => {
    const a = store()
    await ensureLocalPki(a, {advertiseIp: '10.1.0.1', hostId: 'aaaa'})
    const join = await makeJoinFile(a, {endpoints: ['https://10.1.0.1:2379'], hostId: 'bbbb', memberIp: '10.1.0.2'})
    expect(subjectOf(join.member!.etcd.cert)).toMatchObject({commonName: 'highway-etcd', ips: ['127.0.0.1', '10.1.0.2']})
    expect(subjectOf(join.member!.root.cert).commonName).toBe('root')
    expect(JSON.stringify(join)).not.toContain(a.pair('ca')!.key.split('\n')[1])
    const path = joinPath(scratch(), 'b.join')
    writeJoinFile(path, join)
    expect(readJoinFile(path)).toEqual(join)
    const b = store()
    storeJoin(b, join)
    expect(memberPki(b)).toEqual({
      etcd: {ca: join.ca, ...join.member!.etcd},
      host: {ca: join.ca, cert: join.cert, key: join.key},
      root: {ca: join.ca, ...join.member!.root},
    })
    expect(b.pair('ca')).toBeNull()
    // A member certificate for another address than the file says: refused.
    writeFileSync(path, JSON.stringify({...join, member: {...join.member, advertiseIp: '10.1.0.3'}}))
    expect(userError(() => readJoinFile(path)).message).toMatch(/its member certificates are not root and etcd on member\.advertiseIp/)
  })

  it('says so when the file is missing', async () => {
    const error = await rejectedUserError(async () => readJoinFile('/nonexistent/b.join'))
    expect(error.message).toMatch(/cannot read the join file/)
  })
})
