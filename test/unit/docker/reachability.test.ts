import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {bridgeReachability} from '../../../src/docker/reachability.js'
import type {EngineInfo} from '../../../src/docker/types.js'

// Where each fixture comes from (recorded or written, and from what): test/fixtures/docker-info/README.md.
const info = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'docker-info', `${name}.json`), 'utf8')) as EngineInfo

describe('bridgeReachability', () => {
  it('a root engine on this Linux host, on its local socket: the bridge is reachable', () => {
    expect(bridgeReachability(info('debian-docker-io'), 'unix:///var/run/docker.sock')).toEqual({reachable: true, reason: ''})
  })

  it('Docker Desktop on macOS: unreachable (the VM), whatever socket the client uses', () => {
    const reach = bridgeReachability(info('docker-desktop-macos'), 'unix:///var/run/docker.sock')
    expect(reach.reachable).toBe(false)
    expect(reach.reason).toBe("the engine runs in Docker Desktop's VM (Docker Desktop)")
  })

  it('Docker Desktop on Windows through WSL2 integration or its named pipe: unreachable', () => {
    expect(bridgeReachability(info('docker-desktop-windows-wsl2'), 'unix:///var/run/docker.sock').reachable).toBe(false)
    expect(bridgeReachability(info('docker-desktop-windows-wsl2'), 'npipe:////./pipe/docker_engine').reachable).toBe(false)
  })

  it('a rootless engine (name=rootless among its security options): unreachable', () => {
    expect(bridgeReachability(info('rootless-ubuntu'), 'unix:///run/user/1000/docker.sock')).toEqual({
      reachable: false,
      reason: "the engine is rootless: its bridge is inside rootlesskit's network namespace",
    })
  })

  it('an engine on another machine (DOCKER_HOST over tcp or ssh): unreachable, naming it', () => {
    expect(bridgeReachability(info('debian-docker-io'), 'tcp://10.0.0.5:2376')).toEqual({
      reachable: false,
      reason: 'the engine is remote (tcp://10.0.0.5:2376)',
    })
    expect(bridgeReachability(info('debian-docker-io'), 'ssh://dev@build-box').reachable).toBe(false)
  })

  it('a local named pipe or unix socket alone says nothing: only the engine’s own report decides', () => {
    expect(bridgeReachability(info('debian-docker-io'), 'npipe:////./pipe/docker_engine').reachable).toBe(true)
    expect(bridgeReachability({}, 'unix:///var/run/docker.sock').reachable).toBe(true)
  })

  it('"rootless" only as a whole option name, not inside another one', () => {
    expect(bridgeReachability({SecurityOptions: ['name=seccomp,profile=/etc/rootless-profile.json']}, 'unix:///var/run/docker.sock').reachable).toBe(true)
  })
})
