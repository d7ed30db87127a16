import type Docker from 'dockerode'
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import type {ServiceRecord} from '../../../src/core/types.js'

export const BRIDGE_IP = '172.17.0.1'

/** 64-hex container IDs whose first 12 characters (the HAProxy server id) are distinct. */
export const IDS = {
  web1: '1a1a1a1a1a1a0000000000000000000000000000000000000000000000000001',
  web2: '2b2b2b2b2b2b0000000000000000000000000000000000000000000000000002',
  api: '3c3c3c3c3c3c0000000000000000000000000000000000000000000000000003',
  db: '4d4d4d4d4d4d0000000000000000000000000000000000000000000000000004',
} as const

export function makeRecord(overrides: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    schema: 2,
    name: 'web',
    state: 'running',
    ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_153}],
    hostId: 'hosta',
    hostName: 'host-a',
    containerId: IDS.web1,
    containerName: 'web-1',
    containerIp: '172.17.0.5',
    createdAt: '2026-11-27T09:14:03.118402711Z',
    replica: false,
    updatedAt: '2026-11-27T09:14:04.000Z',
    ...overrides,
  }
}

/** A fresh copy of a hand-written `docker inspect` document from test/fixtures/docker/. */
export function loadInspect(file: string): Docker.ContainerInspectInfo {
  const path = fileURLToPath(new URL(`../../fixtures/docker/${file}`, import.meta.url))
  return JSON.parse(readFileSync(path, 'utf8')) as Docker.ContainerInspectInfo
}
