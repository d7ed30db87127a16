// @peculiar/x509 2.x resolves its ASN.1 types through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import {X509Certificate, randomBytes, webcrypto} from 'node:crypto'
import type {KeyPair} from './pki.js'

/**
 * The registry's certificates, made in-process (no openssl on the host): one EC P-256 CA that
 * highway keeps, etcd's server certificate, and one client certificate per etcd user (the CN is the
 * user name: with --client-cert-auth, etcd takes it as the user once auth is on). Every leaf carries
 * serverAuth and clientAuth, so etcd's own certificate also serves its peer listener.
 */
const ALGORITHM = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'} as const
const YEAR_MS = 365 * 24 * 3600 * 1000
/** Long enough that nobody meets an expiry; renewal is not built yet (issue 9's scope stops at issuing). */
const VALIDITY_MS = 10 * YEAR_MS
/** Hosts' clocks differ: a certificate made on one must already be valid on another. */
const BACKDATE_MS = 3600 * 1000

const crypto = webcrypto as unknown as Crypto
x509.cryptoProvider.set(crypto)

export interface Subject {
  commonName: string
  /** IP addresses the certificate names (subjectAltName). */
  ips?: string[]
  /** DNS names the certificate names (subjectAltName). */
  dnsNames?: string[]
}

function serialNumber(): string {
  const bytes = randomBytes(16)
  // A positive serial: DER integers are signed.
  bytes[0] &= 0x7f
  return bytes.toString('hex')
}

function validity(): {notAfter: Date; notBefore: Date} {
  const now = Date.now()
  return {notAfter: new Date(now + VALIDITY_MS), notBefore: new Date(now - BACKDATE_MS)}
}

async function newKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY')
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), ALGORITHM, false, ['sign'])
}

/** A new self-signed CA that may sign leaf certificates only (path length 0). */
export async function createCa(name = 'highway registry CA'): Promise<KeyPair> {
  const keys = await newKeys()
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
    keys,
    name: `CN=${name}`,
    serialNumber: serialNumber(),
    signingAlgorithm: ALGORITHM,
  })
  return {cert: certificate.toString('pem'), key: await privateKeyPem(keys.privateKey)}
}

/** A leaf certificate for `subject`, with a key of its own, signed by `ca`. */
export async function issue(ca: KeyPair, subject: Subject): Promise<KeyPair> {
  const issuer = new x509.X509Certificate(ca.cert)
  const keys = await newKeys()
  const names: x509.JsonGeneralName[] = [
    ...(subject.dnsNames ?? []).map((value) => ({type: 'dns' as const, value})),
    ...(subject.ips ?? []).map((value) => ({type: 'ip' as const, value})),
  ]
  const certificate = await x509.X509CertificateGenerator.create({
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
    issuer: issuer.subject,
    publicKey: keys.publicKey,
    serialNumber: serialNumber(),
    signingAlgorithm: ALGORITHM,
    signingKey: await importPrivateKey(ca.key),
    subject: `CN=${subject.commonName}`,
  })
  return {cert: certificate.toString('pem'), key: await privateKeyPem(keys.privateKey)}
}

/** What a certificate names, read back with Node's own X.509 parser: `up` reissues when it differs from what is wanted. */
export function subjectOf(certPem: string): Required<Subject> {
  const certificate = new X509Certificate(certPem)
  const commonName = /^CN=(.*)$/m.exec(certificate.subject)?.[1] ?? ''
  const entries = (certificate.subjectAltName ?? '').split(', ').filter(Boolean)
  const take = (prefix: string) => entries.filter((entry) => entry.startsWith(prefix)).map((entry) => entry.slice(prefix.length))
  return {commonName, dnsNames: take('DNS:'), ips: take('IP Address:')}
}

/** True when `certPem` was signed by this CA's key and is valid now. */
export function issuedBy(certPem: string, caPem: string): boolean {
  const certificate = new X509Certificate(certPem)
  const ca = new X509Certificate(caPem)
  const now = Date.now()
  return certificate.checkIssued(ca) && certificate.verify(ca.publicKey) && Date.parse(certificate.validTo) > now && Date.parse(certificate.validFrom) <= now
}
