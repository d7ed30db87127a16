import {X509Certificate, createPrivateKey, createPublicKey, sign, verify} from 'node:crypto'
import type {AddressInfo} from 'node:net'
import {connect, createServer, type ConnectionOptions, type TLSSocket} from 'node:tls'
import {beforeAll, describe, expect, it} from 'vitest'
import {createCa, issue, issuedBy, subjectOf} from '../../../src/registry/certificates.js'
import type {KeyPair} from '../../../src/registry/pki.js'

// Read back with Node's own X.509 parser (OpenSSL), not with the library that wrote them.
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

let ca: KeyPair
let server: KeyPair
let client: KeyPair

beforeAll(async () => {
  ca = await createCa()
  server = await issue(ca, {commonName: 'highway-etcd', dnsNames: ['highway-etcd'], ips: ['127.0.0.1', '10.201.0.1']})
  client = await issue(ca, {commonName: 'host-0123456789abcdef'})
})

describe('the CA', () => {
  it('is a self-signed EC P-256 CA that may sign leaves only', () => {
    const certificate = new X509Certificate(ca.cert)
    expect(certificate.ca).toBe(true)
    expect(certificate.checkIssued(certificate)).toBe(true)
    expect(certificate.verify(certificate.publicKey)).toBe(true)
    expect(certificate.publicKey.asymmetricKeyDetails).toEqual({namedCurve: 'prime256v1'})
    expect(certificate.toLegacyObject().ext_key_usage).toBeUndefined()
    expect(ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----/)
  })

  it('keeps a private key that belongs to its certificate', () => {
    const data = Buffer.from('highway')
    const signature = sign('sha256', data, createPrivateKey(ca.key))
    expect(verify('sha256', data, new X509Certificate(ca.cert).publicKey, signature)).toBe(true)
  })

  it('is new each time: two CAs trust nothing of each other', async () => {
    const other = await createCa()
    expect(issuedBy(client.cert, other.cert)).toBe(false)
    expect(issuedBy(client.cert, ca.cert)).toBe(true)
  })
})

describe('leaf certificates', () => {
  it('verify against the CA that issued them, and are valid now, backdated for other hosts’ clocks', () => {
    for (const leaf of [server, client]) {
      const certificate = new X509Certificate(leaf.cert)
      expect(certificate.ca).toBe(false)
      expect(certificate.checkIssued(new X509Certificate(ca.cert))).toBe(true)
      expect(certificate.verify(new X509Certificate(ca.cert).publicKey)).toBe(true)
      expect(Date.parse(certificate.validFrom)).toBeLessThan(Date.now() - 30 * 60 * 1000)
      expect(Date.parse(certificate.validTo)).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000)
      expect(issuedBy(leaf.cert, ca.cert)).toBe(true)
    }
  })

  it('name the etcd user as CN, and the server’s addresses as subjectAltName', () => {
    expect(subjectOf(server.cert)).toEqual({commonName: 'highway-etcd', dnsNames: ['highway-etcd'], ips: ['127.0.0.1', '10.201.0.1']})
    expect(subjectOf(client.cert)).toEqual({commonName: 'host-0123456789abcdef', dnsNames: [], ips: []})
    expect(new X509Certificate(client.cert).subject).toBe('CN=host-0123456789abcdef')
    const certificate = new X509Certificate(server.cert)
    expect(certificate.checkIP('10.201.0.1')).toBe('10.201.0.1')
    expect(certificate.checkIP('10.201.0.2')).toBeUndefined()
    expect(certificate.checkHost('highway-etcd')).toBe('highway-etcd')
  })

  it('serve as TLS server and client both (etcd’s own also serves its peer listener)', () => {
    for (const leaf of [server, client]) {
      const usage = new X509Certificate(leaf.cert).keyUsage
      expect(usage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]))
    }
  })

  it('each have a key of their own that matches the certificate', () => {
    expect(server.key).not.toBe(client.key)
    for (const leaf of [server, client]) {
      expect(createPublicKey(createPrivateKey(leaf.key)).export({format: 'pem', type: 'spki'})).toBe(
        new X509Certificate(leaf.cert).publicKey.export({format: 'pem', type: 'spki'}),
      )
    }
  })

  it('carry a real mutual TLS handshake on loopback: the server checks the client’s CN, the client the server’s name', async () => {
    const server_ = createServer({ca: ca.cert, cert: server.cert, key: server.key, rejectUnauthorized: true, requestCert: true}, (socket) => {
      socket.end(`${(socket as TLSSocket).getPeerCertificate().subject.CN}\n`)
    })
    await new Promise<void>((resolve) => server_.listen(0, '127.0.0.1', resolve))
    const {port} = server_.address() as AddressInfo
    const ask = (options: ConnectionOptions) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({host: '127.0.0.1', port, ...options}, () => socket.setEncoding('utf8'))
        let text = ''
        socket.on('data', (chunk: string) => (text += chunk))
        socket.on('end', () => resolve(text.trim()))
        socket.on('error', reject)
      })
    try {
      expect(await ask({ca: ca.cert, cert: client.cert, key: client.key, servername: 'highway-etcd'})).toBe('host-0123456789abcdef')
      // The server wants a certificate: none, or one of another CA, is refused (with TLS 1.3 the client
      // may see its handshake finish before the server's alert: either way, it gets no answer).
      const refused = (options: ConnectionOptions) => ask(options).catch((error: Error) => `refused: ${error.message}`)
      expect(await refused({ca: ca.cert, servername: 'highway-etcd'})).toMatch(/^(refused: .*)?$/s)
      const other = await createCa()
      const stranger = await issue(other, {commonName: 'root'})
      expect(await refused({ca: ca.cert, cert: stranger.cert, key: stranger.key, servername: 'highway-etcd'})).toMatch(/^(refused: .*)?$/s)
      // And the client refuses a server whose certificate does not name what it dialled.
      await expect(ask({ca: ca.cert, cert: client.cert, key: client.key, servername: 'elsewhere'})).rejects.toThrow(/altnames|Hostname/i)
    } finally {
      server_.close()
    }
  })

  it('are told apart from a certificate of another CA', async () => {
    const other = await createCa()
    const foreign = await issue(other, {commonName: 'root'})
    expect(issuedBy(foreign.cert, ca.cert)).toBe(false)
    expect(issuedBy(foreign.cert, other.cert)).toBe(true)
  })
})
