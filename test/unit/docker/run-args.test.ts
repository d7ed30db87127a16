import {describe, expect, it} from 'vitest'
import {UserError} from '../../../src/core/errors.js'
import {userError} from '../support/user-error.js'
import {REPLICA_OF, SERVICE, SERVICE_PORTS} from '../../../src/core/labels.js'
import {DEFAULT_REPLACE_TIMEOUT_SECONDS, dockerRunArgv, parseRunArgs, serviceName, servicePorts} from '../../../src/docker/run-args.js'

const IP = '172.17.0.1'

function argvFor(args: string[]): string[] {
  return dockerRunArgv(parseRunArgs(args), {bridgeIp: IP})
}

describe('parseRunArgs: splitting at IMAGE', () => {
  it('takes the first non-flag token as IMAGE and keeps the rest as the command', () => {
    const parsed = parseRunArgs(['--rm', 'nginx:1.27', 'nginx', '-g', 'daemon off;'])
    expect(parsed.flags).toEqual(['--rm'])
    expect(parsed.image).toBe('nginx:1.27')
    expect(parsed.command).toEqual(['nginx', '-g', 'daemon off;'])
  })

  it('works with no flags and no command', () => {
    const parsed = parseRunArgs(['alpine'])
    expect(parsed).toMatchObject({flags: [], image: 'alpine', command: [], detach: false, help: false})
    expect(parsed.name).toBeUndefined()
    expect(parsed.publish).toEqual([])
  })

  it('keeps repeated -e in order with their values', () => {
    const argv = ['-e', 'B=2', '-e', 'A=1', '--env', 'C=3', '-eD=4', '--env=E=5', 'img']
    const parsed = parseRunArgs(argv)
    expect(parsed.flags).toEqual(argv.slice(0, -1))
    expect(parsed.image).toBe('img')
  })

  it('keeps -e A=1 -e B=2 in that order in the docker argv', () => {
    const out = argvFor(['-e', 'A=1', '-e', 'B=2', 'img'])
    expect(out.slice(-5)).toEqual(['-e', 'A=1', '-e', 'B=2', 'img'])
  })

  it('does not mistake a flag value for IMAGE', () => {
    const cases: Array<[string[], string]> = [
      [['--env-file', 'f', 'img'], '--env-file'],
      [['-v', 'a:b', 'img'], '-v'],
      [['--volume', '/a:/b:ro', 'img'], '--volume'],
      [['--network', 'host', 'img'], '--network'],
      [['--net', 'host', 'img'], '--net'],
      [['--mount', 'type=bind,src=/a,dst=/b', 'img'], '--mount'],
      [['-w', '/app', 'img'], '-w'],
      [['-u', '1000:1000', 'img'], '-u'],
      [['-h', 'box', 'img'], '-h'],
      [['-l', 'a=b', 'img'], '-l'],
      [['-m', '512m', 'img'], '-m'],
      [['-c', '512', 'img'], '-c'],
      [['-a', 'stdout', 'img'], '-a'],
      [['--entrypoint', '-weird', 'img'], '--entrypoint'],
      [['--health-cmd', 'curl -f http://localhost', 'img'], '--health-cmd'],
      [['--dns-opt', 'ndots:1', 'img'], '--dns-opt'],
      [['--ulimit', 'nofile=1024:2048', 'img'], '--ulimit'],
      [['--annotation', 'a=b', 'img'], '--annotation'],
      [['--platform', 'linux/amd64', 'img'], '--platform'],
    ]
    for (const [argv, flag] of cases) {
      const parsed = parseRunArgs(argv)
      expect(parsed.image, flag).toBe('img')
      expect(parsed.flags, flag).toEqual(argv.slice(0, 2))
      expect(parsed.command, flag).toEqual([])
    }
  })

  it('accepts --flag=value and --flag value alike', () => {
    expect(parseRunArgs(['--restart=always', 'img']).flags).toEqual(['--restart=always'])
    expect(parseRunArgs(['--restart', 'always', 'img']).flags).toEqual(['--restart', 'always'])
    expect(parseRunArgs(['--restart=always', 'img']).image).toBe('img')
  })

  it('knows every common docker run flag', () => {
    const values = [
      '--add-host',
      '--attach',
      '--blkio-weight',
      '--blkio-weight-device',
      '--cap-add',
      '--cap-drop',
      '--cgroup-parent',
      '--cgroupns',
      '--cidfile',
      '--cpu-count',
      '--cpu-percent',
      '--cpu-period',
      '--cpu-quota',
      '--cpu-rt-period',
      '--cpu-rt-runtime',
      '--cpu-shares',
      '--cpus',
      '--cpuset-cpus',
      '--cpuset-mems',
      '--detach-keys',
      '--device',
      '--device-cgroup-rule',
      '--device-read-bps',
      '--device-read-iops',
      '--device-write-bps',
      '--device-write-iops',
      '--dns',
      '--dns-option',
      '--dns-search',
      '--domainname',
      '--expose',
      '--gpus',
      '--group-add',
      '--health-interval',
      '--health-retries',
      '--health-start-interval',
      '--health-start-period',
      '--health-timeout',
      '--hostname',
      '--io-maxbandwidth',
      '--io-maxiops',
      '--ip',
      '--ip6',
      '--ipc',
      '--isolation',
      '--kernel-memory',
      '--label',
      '--label-file',
      '--link',
      '--link-local-ip',
      '--log-driver',
      '--log-opt',
      '--mac-address',
      '--memory',
      '--memory-reservation',
      '--memory-swap',
      '--memory-swappiness',
      '--net-alias',
      '--network-alias',
      '--oom-score-adj',
      '--pid',
      '--pids-limit',
      '--pull',
      '--runtime',
      '--security-opt',
      '--shm-size',
      '--stop-signal',
      '--stop-timeout',
      '--storage-opt',
      '--sysctl',
      '--tmpfs',
      '--user',
      '--userns',
      '--uts',
      '--volume-driver',
      '--volumes-from',
      '--workdir',
    ]
    for (const flag of values) {
      expect(parseRunArgs([flag, 'v', 'img']).image, flag).toBe('img')
    }
    const booleans = [
      '--detach',
      '--disable-content-trust',
      '--init',
      '--interactive',
      '--no-healthcheck',
      '--oom-kill-disable',
      '--privileged',
      '--publish-all',
      '--quiet',
      '--read-only',
      '--rm',
      '--sig-proxy',
      '--tty',
      '--use-api-socket',
      '-P',
      '-q',
    ]
    for (const flag of booleans) {
      expect(parseRunArgs([flag, 'img', 'cmd']).image, flag).toBe('img')
    }
  })

  it('lets booleans take an explicit value with =, never the next token', () => {
    expect(parseRunArgs(['--rm=false', 'img'])).toMatchObject({flags: ['--rm=false'], image: 'img'})
    expect(parseRunArgs(['--detach=true', 'img']).detach).toBe(true)
    expect(parseRunArgs(['--sig-proxy=false', 'img']).image).toBe('img')
    expect(parseRunArgs(['-d=false', 'img']).detach).toBe(false)
    const parsed = parseRunArgs(['--rm', 'false'])
    expect(parsed.image).toBe('false')
    expect(parsed.flags).toEqual(['--rm'])
  })

  it('rejects a boolean value that is not true or false', () => {
    expect(userError(() => parseRunArgs(['--rm=maybe', 'img'])).message).toContain('"maybe"')
  })

  it('lets a later boolean override an earlier one, as docker does', () => {
    expect(parseRunArgs(['-d', '--detach=false', 'img']).detach).toBe(false)
  })

  it('ends flags at --, taking the next token as IMAGE even if it looks like a flag', () => {
    const parsed = parseRunArgs(['--rm', '--', 'img', '-d'])
    expect(parsed.flags).toEqual(['--rm', '--'])
    expect(parsed.image).toBe('img')
    expect(parsed.command).toEqual(['-d'])
    expect(parsed.detach).toBe(false)

    expect(parseRunArgs(['--', '-odd']).image).toBe('-odd')
    expect(argvFor(['--rm', '--', 'img'])).toEqual(['run', '--dns', IP, '--rm', '--', 'img'])
  })

  it('treats -- as a value when a value flag asks for one', () => {
    const parsed = parseRunArgs(['--entrypoint', '--', 'img'])
    expect(parsed.flags).toEqual(['--entrypoint', '--'])
    expect(parsed.image).toBe('img')
  })
})

describe('parseRunArgs: short flag clusters', () => {
  it('reads -it as two booleans, not a flag with a value', () => {
    const parsed = parseRunArgs(['-it', 'alpine', 'sh'])
    expect(parsed).toMatchObject({detach: false, image: 'alpine', command: ['sh']})
    expect(parsed.flags).toEqual(['-it'])
  })

  it('reads -ti, -dit and -itd', () => {
    expect(parseRunArgs(['-ti', 'a'])).toMatchObject({flags: ['-ti'], image: 'a', detach: false})
    expect(parseRunArgs(['-dit', 'a'])).toMatchObject({flags: ['-dit'], image: 'a', detach: true})
    expect(parseRunArgs(['-itd', 'a'])).toMatchObject({flags: ['-itd'], image: 'a', detach: true})
  })

  it('lets a cluster end in a value flag, with the value attached or in the next token', () => {
    const separate = parseRunArgs(['-dp', '9090', 'img'])
    expect(separate.detach).toBe(true)
    expect(separate.publish).toEqual([{spec: '9090', tokenIndex: 1, attached: 'separate'}])
    expect(separate.image).toBe('img')

    const attached = parseRunArgs(['-dp9090', 'img'])
    expect(attached.detach).toBe(true)
    expect(attached.publish).toEqual([{spec: '9090', tokenIndex: 0, attached: 'short'}])
    expect(attached.image).toBe('img')

    const env = parseRunArgs(['-ePATH=x', 'img'])
    expect(env.flags).toEqual(['-ePATH=x'])
    expect(env.image).toBe('img')
  })

  it('does not read the letters of an attached value as more flags', () => {
    // "-eDEBUG=1": D, E, B, U, G are not docker flags, but here they are the value of -e.
    expect(parseRunArgs(['-eDEBUG=1', 'img']).image).toBe('img')
    expect(parseRunArgs(['-dv/a:/b', 'img']).detach).toBe(true)
  })

  it('reads -p=9090 as the value 9090, like pflag', () => {
    expect(parseRunArgs(['-p=9090', 'img']).publish).toEqual([{spec: '9090', tokenIndex: 0, attached: 'short'}])
  })

  it('treats -h as --hostname (docker run has no short help flag)', () => {
    const parsed = parseRunArgs(['-h', 'box', 'img'])
    expect(parsed.help).toBe(false)
    expect(parsed.image).toBe('img')
  })
})

describe('parseRunArgs: flags after IMAGE belong to the command', () => {
  it('leaves -d and --help after IMAGE in the command', () => {
    const parsed = parseRunArgs(['img', '-d', '--help', '--rm', '-p', '80'])
    expect(parsed.image).toBe('img')
    expect(parsed.command).toEqual(['-d', '--help', '--rm', '-p', '80'])
    expect(parsed.detach).toBe(false)
    expect(parsed.help).toBe(false)
    expect(parsed.publish).toEqual([])
  })

  it('does not complain about unknown flags after IMAGE', () => {
    expect(parseRunArgs(['img', '--whatever', '-xyz']).command).toEqual(['--whatever', '-xyz'])
  })

  it('sets help for --help before IMAGE, even with no IMAGE', () => {
    expect(parseRunArgs(['--help']).help).toBe(true)
    expect(parseRunArgs(['--help']).image).toBe('')
    expect(parseRunArgs(['--rm', '--help', 'img']).help).toBe(true)
  })
})

describe('parseRunArgs: --name', () => {
  it('reads --name=api and --name api', () => {
    expect(parseRunArgs(['--name=api', 'img']).name).toBe('api')
    const parsed = parseRunArgs(['--name', 'api', 'img'])
    expect(parsed.name).toBe('api')
    expect(parsed.flags).toEqual(['--name', 'api'])
  })

  it('keeps the last --name, as docker does', () => {
    expect(parseRunArgs(['--name', 'one', '--name=two', 'img']).name).toBe('two')
  })

  it.each([['Upper'], ['under_score'], ['a'.repeat(64)], ['-lead'], ['trail-'], [''], ['dot.ted']])('rejects the invalid name %j', (name) => {
    const error = userError(() => parseRunArgs([`--name=${name}`, 'img']))
    expect(error.message).toContain('invalid service name')
  })

  it('accepts a 63-character name', () => {
    expect(parseRunArgs(['--name', 'a'.repeat(63), 'img']).name).toBe('a'.repeat(63))
  })

  it('rejects a flag swallowed as the name, as docker would take it', () => {
    expect(() => parseRunArgs(['--name', '--rm', 'img'])).toThrow(UserError)
  })
})

describe('parseRunArgs: --replica-of, highway’s own flag', () => {
  it.each<[string, string[]]>([
    ['first', ['--replica-of', 'api', '-d', '--name', 'api-2', '-p', '9090', 'img']],
    ['between docker flags', ['-d', '--replica-of', 'api', '--name', 'api-2', '-p', '9090', 'img']],
    ['last before IMAGE', ['-d', '--name', 'api-2', '-p', '9090', '--replica-of', 'api', 'img']],
    ['with =', ['-d', '--name', 'api-2', '--replica-of=api', '-p', '9090', 'img']],
  ])('takes it out wherever it stands (%s), keeping the rest in order', (_where, argv) => {
    const parsed = parseRunArgs(argv)
    expect(parsed.replicaOf).toBe('api')
    expect(parsed.flags).toEqual(['-d', '--name', 'api-2', '-p', '9090'])
    expect(parsed.image).toBe('img')
  })

  it('keeps each -p pointing at its own token after the flag is taken out', () => {
    const parsed = parseRunArgs(['--replica-of', 'api', '-p', '9090', '--replica-of=api', '--publish=53/udp', '-p8080', 'img'])
    expect(parsed.flags).toEqual(['-p', '9090', '--publish=53/udp', '-p8080'])
    expect(parsed.publish.map(({tokenIndex}) => parsed.flags[tokenIndex])).toEqual(['9090', '--publish=53/udp', '-p8080'])
    expect(dockerRunArgv(parsed, {bridgeIp: IP}).slice(-5)).toEqual(['-p', `${IP}::9090`, `--publish=${IP}::53/udp`, `-p${IP}::8080`, 'img'])
  })

  it('leaves --replica-of after IMAGE to the command, and a --replica-of taken as a docker flag’s value alone', () => {
    const after = parseRunArgs(['-p', '9090', 'img', '--replica-of', 'api'])
    expect(after.replicaOf).toBeUndefined()
    expect(after.command).toEqual(['--replica-of', 'api'])
    const value = parseRunArgs(['-e', '--replica-of', 'img'])
    expect(value.replicaOf).toBeUndefined()
    expect(value.flags).toEqual(['-e', '--replica-of'])
  })

  it('keeps the last one, like docker’s single-valued flags', () => {
    expect(parseRunArgs(['--replica-of', 'web', '--replica-of', 'api', '-p', '9090', 'img']).replicaOf).toBe('api')
  })

  it('routes under the replica-of name, labels the container a replica, and never hands docker the flag', () => {
    const parsed = parseRunArgs(['-d', '--name', 'api-2', '--replica-of', 'api', '-p', '9090', 'img'])
    expect(serviceName(parsed)).toBe('api')
    expect(dockerRunArgv(parsed, {bridgeIp: IP})).toEqual([
      'run',
      '--dns',
      IP,
      '--label',
      `${SERVICE}=api`,
      '--label',
      `${SERVICE_PORTS}=9090/tcp`,
      '--label',
      `${REPLICA_OF}=api`,
      '-d',
      '--name',
      'api-2',
      '-p',
      `${IP}::9090`,
      'img',
    ])
  })

  it('works without --name (docker picks the container’s name)', () => {
    expect(argvFor(['--replica-of', 'api', '-p', '9090', 'img'])).toContain(`${REPLICA_OF}=api`)
  })

  it('needs a value, a valid name and a published port', () => {
    expect(userError(() => parseRunArgs(['-p', '9090', '--replica-of'])).message).toBe('highway flag "--replica-of" needs a value')
    expect(() => parseRunArgs(['--replica-of', 'Api_1', '-p', '9090', 'img'])).toThrow(/invalid service name "Api_1"/)
    const error = userError(() => parseRunArgs(['--replica-of', 'api', '--name', 'api-2', 'img']))
    expect(error.message).toBe('--replica-of api needs a published port to route to')
    expect(error.suggestion).toContain('-p')
  })
})

describe('serviceName', () => {
  it('is --name with a published port, --replica-of over it, and nothing without -p', () => {
    expect(serviceName(parseRunArgs(['--name', 'api', '-p', '9090', 'img']))).toBe('api')
    expect(serviceName(parseRunArgs(['--name', 'api-2', '--replica-of', 'api', '-p', '9090', 'img']))).toBe('api')
    expect(serviceName(parseRunArgs(['--name', 'api', 'img']))).toBeUndefined()
    expect(serviceName(parseRunArgs(['-p', '9090', 'img']))).toBeUndefined()
  })
})

describe('parseRunArgs: errors', () => {
  it('throws when there is no IMAGE', () => {
    expect(userError(() => parseRunArgs([])).message).toContain('missing IMAGE')
    expect(userError(() => parseRunArgs(['--rm', '-d'])).message).toContain('missing IMAGE')
    expect(userError(() => parseRunArgs(['-e', 'A=1'])).message).toContain('missing IMAGE')
    expect(userError(() => parseRunArgs(['--rm', '--'])).message).toContain('missing IMAGE')
  })

  it('throws on an unknown long flag, naming it without its value', () => {
    const error = userError(() => parseRunArgs(['--foo', 'img']))
    expect(error.message).toBe('unknown docker run flag "--foo"')
    expect(error.suggestion).toContain('docker run --help')
    expect(userError(() => parseRunArgs(['--foo=bar', 'img'])).message).toBe('unknown docker run flag "--foo"')
  })

  it('throws on an unknown short flag, alone or in a cluster', () => {
    expect(userError(() => parseRunArgs(['-x', 'img'])).message).toBe('unknown docker run flag "-x"')
    expect(userError(() => parseRunArgs(['-itx', 'img'])).message).toBe('unknown docker run flag "-x"')
  })

  it('throws when a value flag is the last token', () => {
    const cases: Array<[string[], string]> = [
      [['--name'], '--name'],
      [['-e'], '-e'],
      [['--rm', '-p'], '-p'],
      [['-dp'], '-p'],
      [['--env-file'], '--env-file'],
    ]
    for (const [argv, flag] of cases) {
      expect(userError(() => parseRunArgs(argv)).message, argv.join(' ')).toBe(`docker run flag "${flag}" needs a value`)
    }
  })
})

describe('servicePorts', () => {
  const ports = (...specs: string[]) => servicePorts(parseRunArgs([...specs.flatMap((s) => ['-p', s]), 'img']))

  it('reads bare, mapped and IP-bound specs', () => {
    expect(ports('9090')).toEqual([{containerPort: 9090, protocol: 'tcp'}])
    expect(ports('8080:80')).toEqual([{containerPort: 80, protocol: 'tcp'}])
    expect(ports('1.2.3.4::53/udp')).toEqual([{containerPort: 53, protocol: 'udp'}])
    expect(ports('127.0.0.1:8080:80/tcp')).toEqual([{containerPort: 80, protocol: 'tcp'}])
    expect(ports('[::1]:8080:80')).toEqual([{containerPort: 80, protocol: 'tcp'}])
    expect(ports('53/UDP')).toEqual([{containerPort: 53, protocol: 'udp'}])
  })

  it('keeps the order written and lists each port/protocol once', () => {
    expect(ports('9090', '53/udp', '53', '8080:9090', '9091:9090')).toEqual([
      {containerPort: 9090, protocol: 'tcp'},
      {containerPort: 53, protocol: 'udp'},
      {containerPort: 53, protocol: 'tcp'},
    ])
  })

  it('reads the long form docker also accepts', () => {
    expect(ports('published=8080,target=80,protocol=udp')).toEqual([{containerPort: 80, protocol: 'udp'}])
    expect(ports('target=80')).toEqual([{containerPort: 80, protocol: 'tcp'}])
  })

  it('allows a host-port range onto one container port', () => {
    expect(ports('8000-8010:80')).toEqual([{containerPort: 80, protocol: 'tcp'}])
  })

  it('rejects container-port ranges as not routable by name', () => {
    expect(userError(() => ports('8000-8001')).message).toContain('not routable by name')
    expect(userError(() => ports('9000-9001:8000-8001')).message).toContain('not routable by name')
  })

  it.each([
    ['abc', 'abc'],
    ['70000', '70000'],
    ['0', '0'],
    ['', ''],
    ['8080:', ''],
    ['8080:abc', 'abc'],
    ['abc:80', 'abc'],
    ['99999:80', '99999'],
    ['80-', '80-'],
    ['target=x', 'x'],
  ])('rejects -p %j, naming %j', (spec, bad) => {
    const error = userError(() => ports(spec))
    expect(error.message).toBe(`invalid port "${bad}" in -p ${spec}: expected a number from 1 to 65535`)
  })

  it('rejects a backwards range, a bad protocol and sctp', () => {
    expect(userError(() => ports('81-80:80')).message).toContain('invalid port "81-80"')
    expect(userError(() => ports('80/icmp')).message).toContain('invalid protocol "icmp"')
    expect(userError(() => ports('80/udp/x')).message).toContain('invalid protocol')
    expect(userError(() => ports('80/sctp')).message).toContain('not routable by name')
  })

  it('is empty without -p', () => {
    expect(servicePorts(parseRunArgs(['img']))).toEqual([])
  })
})

describe('dockerRunArgv', () => {
  it('adds --dns first and passes everything else through in order', () => {
    expect(argvFor(['--rm', '-it', 'alpine', 'sh', '-c', 'echo hi'])).toEqual(['run', '--dns', IP, '--rm', '-it', 'alpine', 'sh', '-c', 'echo hi'])
  })

  it('still adds its --dns before a --dns the user gave', () => {
    expect(argvFor(['--dns', '8.8.8.8', 'img'])).toEqual(['run', '--dns', IP, '--dns', '8.8.8.8', 'img'])
  })

  it('pins a bare -p to the bridge address in every token shape', () => {
    expect(argvFor(['-p', '9090', 'img'])).toEqual(['run', '--dns', IP, '-p', `${IP}::9090`, 'img'])
    expect(argvFor(['-p9090', 'img'])).toEqual(['run', '--dns', IP, `-p${IP}::9090`, 'img'])
    expect(argvFor(['-dp9090', 'img'])).toEqual(['run', '--dns', IP, `-dp${IP}::9090`, 'img'])
    expect(argvFor(['-p=9090', 'img'])).toEqual(['run', '--dns', IP, `-p=${IP}::9090`, 'img'])
    expect(argvFor(['--publish=9090', 'img'])).toEqual(['run', '--dns', IP, `--publish=${IP}::9090`, 'img'])
    expect(argvFor(['--publish', '9090', 'img'])).toEqual(['run', '--dns', IP, '--publish', `${IP}::9090`, 'img'])
  })

  it('also publishes a bare -p on the advertise address, where other hosts reach it, and leaves full specs alone', () => {
    const parsed = parseRunArgs(['--name', 'api', '-p9090', '-p', '53/udp', '-p', '8080:80', 'img'])
    expect(dockerRunArgv(parsed, {advertiseIp: '10.0.0.5', bridgeIp: IP})).toEqual([
      'run',
      '--dns',
      IP,
      '--label',
      'io.highway.service=api',
      '--label',
      'io.highway.ports=9090/tcp,53/udp,80/tcp',
      '-p',
      '10.0.0.5::9090',
      '-p',
      '10.0.0.5::53/udp',
      '--name',
      'api',
      `-p${IP}::9090`,
      '-p',
      `${IP}::53/udp`,
      '-p',
      '8080:80',
      'img',
    ])
    expect(() => dockerRunArgv(parsed, {advertiseIp: 'nope', bridgeIp: IP})).toThrow(/advertise address/)
  })

  it('keeps the /udp suffix when pinning', () => {
    expect(argvFor(['-p', '53/udp', 'img'])).toEqual(['run', '--dns', IP, '-p', `${IP}::53/udp`, 'img'])
  })

  it('keeps full specs exactly as written', () => {
    for (const spec of ['8080:80', '127.0.0.1:8080:80', '1.2.3.4::80', '[::1]:8080:80', 'target=80,published=8080']) {
      expect(argvFor(['-p', spec, 'img']), spec).toEqual(['run', '--dns', IP, '-p', spec, 'img'])
    }
  })

  it('rewrites only the -p tokens, not an equal-looking value of another flag', () => {
    expect(argvFor(['-e', '9090', '-p', '9090', '--expose', '9090', 'img', '-p', '9090'])).toEqual([
      'run',
      '--dns',
      IP,
      '-e',
      '9090',
      '-p',
      `${IP}::9090`,
      '--expose',
      '9090',
      'img',
      '-p',
      '9090',
    ])
  })

  it('adds service labels when --name and -p are both given', () => {
    expect(argvFor(['--name', 'api', '-p', '9090', '-p', '53/udp', '-p', '8080:80', 'img'])).toEqual([
      'run',
      '--dns',
      IP,
      '--label',
      `${SERVICE}=api`,
      '--label',
      `${SERVICE_PORTS}=9090/tcp,53/udp,80/tcp`,
      '--name',
      'api',
      '-p',
      `${IP}::9090`,
      '-p',
      `${IP}::53/udp`,
      '-p',
      '8080:80',
      'img',
    ])
  })

  it('adds no labels with --name but no -p, or -p but no --name', () => {
    expect(argvFor(['--name', 'api', 'img'])).toEqual(['run', '--dns', IP, '--name', 'api', 'img'])
    expect(argvFor(['-p', '9090', 'img'])).not.toContain('--label')
  })

  it('throws on an invalid -p whether or not labels are added', () => {
    expect(() => argvFor(['-p', 'abc', 'img'])).toThrow(UserError)
    expect(() => argvFor(['-p', '70000', 'img'])).toThrow(/invalid port "70000" in -p 70000/)
    expect(() => argvFor(['--name', 'api', '-p', '70000', 'img'])).toThrow(UserError)
  })

  it('refuses a container-port range only for a named service', () => {
    expect(argvFor(['-p', '8000-8001', 'img'])).toEqual(['run', '--dns', IP, '-p', `${IP}::8000-8001`, 'img'])
    expect(() => argvFor(['--name', 'api', '-p', '8000-8001', 'img'])).toThrow(/not routable by name/)
  })

  it('rejects a bridge address that is not a usable IPv4 address', () => {
    const parsed = parseRunArgs(['img'])
    expect(() => dockerRunArgv(parsed, {bridgeIp: '0.0.0.0'})).toThrow(UserError)
    expect(() => dockerRunArgv(parsed, {bridgeIp: 'nope'})).toThrow(UserError)
  })

  it('does not change the parsed flags it was given', () => {
    const parsed = parseRunArgs(['-p', '9090', 'img'])
    dockerRunArgv(parsed, {bridgeIp: IP})
    expect(parsed.flags).toEqual(['-p', '9090'])
  })
})

describe('parseRunArgs: --replace and --replace-timeout, highway’s own flags', () => {
  it('takes them out wherever they stand before IMAGE, with the default wait of 60 s', () => {
    const parsed = parseRunArgs(['-d', '--replace', '--name', 'api', '-p', '9090', 'img', '--replace'])
    expect(parsed.replace).toBe(true)
    expect(parsed.replaceTimeoutSeconds).toBe(DEFAULT_REPLACE_TIMEOUT_SECONDS)
    expect(parsed.flags).toEqual(['-d', '--name', 'api', '-p', '9090'])
    // After IMAGE it belongs to the container's command.
    expect(parsed.command).toEqual(['--replace'])
    expect(parseRunArgs(['-d', '--name', 'api', '-p', '9090', 'img']).replace).toBe(false)
  })

  it('reads --replace-timeout in whole seconds, separate or with =, and --replace=false', () => {
    expect(parseRunArgs(['-d', '--name', 'api', '--replace', '--replace-timeout', '120', '-p', '9090', 'img']).replaceTimeoutSeconds).toBe(120)
    const parsed = parseRunArgs(['-d', '--name', 'api', '--replace=true', '--replace-timeout=5', '-p', '9090', 'img'])
    expect([parsed.replace, parsed.replaceTimeoutSeconds, parsed.flags]).toEqual([true, 5, ['-d', '--name', 'api', '-p', '9090']])
    expect(parseRunArgs(['--replace=false', 'img']).replace).toBe(false)
    for (const bad of ['0', '-1', '1.5', '60s', '']) {
      expect(userError(() => parseRunArgs(['-d', '--name', 'api', '--replace', `--replace-timeout=${bad}`, '-p', '9090', 'img'])).message).toBe(
        `invalid value "${bad}" for highway flag "--replace-timeout": expected whole seconds, at least 1`,
      )
    }
    expect(userError(() => parseRunArgs(['-p', '9090', '--replace-timeout'])).message).toBe('highway flag "--replace-timeout" needs a value')
  })

  it.each<[string, string[], string]>([
    ['without -d', ['--name', 'api', '--replace', '-p', '9090', 'img'], '--replace needs -d: the swap happens while the old container keeps serving'],
    ['without --name', ['-d', '--replace', '-p', '9090', 'img'], '--replace needs --name NAME: the name of the container to replace'],
    ['without a published port', ['-d', '--name', 'api', '--replace', 'img'], '--replace needs a published port to route api to'],
    ['with --replica-of', ['-d', '--name', 'api-2', '--replica-of', 'api', '--replace', '-p', '9090', 'img'], '--replace and --replica-of do not go together'],
    [
      'with a fixed host port',
      ['-d', '--name', 'api', '--replace', '-p', '8080:9090', 'img'],
      '--replace cannot keep the fixed host port in -p 8080:9090: old and new containers run side by side',
    ],
    [
      'with a fixed host port in the long form',
      ['-d', '--name', 'api', '--replace', '-p', 'published=8080,target=9090', 'img'],
      '--replace cannot keep the fixed host port in -p published=8080,target=9090: old and new containers run side by side',
    ],
  ])('refuses --replace %s, in one line', (_case, argv, message) => {
    const error = userError(() => parseRunArgs(argv))
    expect(error.message).toBe(message)
    expect(error.suggestion).toBeTruthy()
  })

  it('accepts host ports docker picks: bare, on an address, or 0', () => {
    for (const spec of ['9090', `${IP}::9090`, '0:9090', `${IP}:0:9090/tcp`, 'target=9090', 'published=0,target=9090']) {
      expect(parseRunArgs(['-d', '--name', 'api', '--replace', '-p', spec, 'img']).replace).toBe(true)
    }
  })

  it('still shows help when --help comes before IMAGE', () => {
    expect(parseRunArgs(['--replace', '--help', 'img']).help).toBe(true)
  })
})
