import {describe, expect, it} from 'vitest'
import {blocking, parseListeners} from '../../../src/doctor/ports.js'

// Recorded from `ss -H -l -n -p -u` and `-t` (iproute2 6.1, Debian 12), addresses kept as printed.
const UDP = `UNCONN 0      0         172.17.0.1:53        0.0.0.0:*    users:(("node",pid=48213,fd=21))
UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=612,fd=13))
UNCONN 0      0            0.0.0.0:5353      0.0.0.0:*    users:(("avahi-daemon",pid=590,fd=12))
UNCONN 0      0               [::]:53           [::]:*    users:(("dnsmasq",pid=801,fd=6),("dnsmasq",pid=802,fd=6))
`
const TCP = `LISTEN 0      4096      172.17.0.1:80        0.0.0.0:*    users:(("docker-proxy",pid=51000,fd=4))
LISTEN 0      511          0.0.0.0:8080      0.0.0.0:*    users:(("nginx",pid=700,fd=6))
LISTEN 0      128        127.0.0.1:2379      0.0.0.0:*
`

describe('parseListeners', () => {
  it('reads address, port and every process of each line, dropping an interface suffix', () => {
    expect(parseListeners(UDP)).toEqual([
      {address: '172.17.0.1', port: 53, processes: [{name: 'node', pid: 48213}]},
      {address: '127.0.0.53', port: 53, processes: [{name: 'systemd-resolve', pid: 612}]},
      {address: '0.0.0.0', port: 5353, processes: [{name: 'avahi-daemon', pid: 590}]},
      {
        address: '[::]',
        port: 53,
        processes: [
          {name: 'dnsmasq', pid: 801},
          {name: 'dnsmasq', pid: 802},
        ],
      },
    ])
  })

  it('keeps a listener whose process ss could not name (not root)', () => {
    expect(parseListeners(TCP)[2]).toEqual({address: '127.0.0.1', port: 2379, processes: []})
  })
})

describe('blocking', () => {
  it('counts listeners on the address itself and on a wildcard, never on another address or port', () => {
    const found = blocking(parseListeners(UDP), '172.17.0.1', 53)
    expect(found.map((listener) => listener.address)).toEqual(['172.17.0.1', '[::]'])
    expect(blocking(parseListeners(TCP), '172.17.0.1', 8080).map((listener) => listener.address)).toEqual(['0.0.0.0'])
    expect(blocking(parseListeners(TCP), '172.17.0.1', 2379)).toEqual([])
  })
})
