// highway up / down / status against the real engine, with real clients: dig, curl, etcd3.
import {Etcd3} from 'etcd3'
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  BIN,
  bridgeIp,
  curl,
  dig,
  digStatus,
  docker,
  ensureAppImage,
  highway,
  infraContainers,
  infraImage,
  makeEnv,
  PURGE_KEEPING_IMAGES,
  until,
} from './harness.js'

const env = makeEnv()
let ip: string
/** The first `up`'s progress lines (listr2's plain renderer: not a TTY). */
let firstUp: string

beforeAll(async () => {
  ip = await bridgeIp()
  await highway(['down'], env)
  const up = await highway(['up'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  firstUp = up.stdout
})

afterAll(async () => {
  await highway(['down'], env)
})

describe('highway up', () => {
  it('starts etcd, proxy, dns, the TCP forwarder and the agent, labelled and restarting unless stopped', async () => {
    const containers = await infraContainers()
    expect(Object.keys(containers).sort()).toEqual(['agent', 'dns', 'etcd', 'proxy', 'tcp'])
    for (const id of Object.values(containers)) {
      expect(await docker('inspect', id, '--format', '{{.HostConfig.RestartPolicy.Name}}')).toBe('unless-stopped')
    }
  })

  it('starts the components one after another, etcd first, and the agent last, once etcd and the proxy answer', async () => {
    const order = ['etcd', 'proxy', 'dns', 'tcp', 'agent']
    const containers = await infraContainers()
    const startedAt = await Promise.all(
      order.map(async (component) => Date.parse(await docker('inspect', containers[component], '--format', '{{.State.StartedAt}}'))),
    )
    for (let i = 1; i < order.length; i++) expect(startedAt[i], `${order[i]} after ${order[i - 1]}`).toBeGreaterThan(startedAt[i - 1])
    const answered = (component: string) => firstUp.indexOf(`✔ ${component}:`)
    for (const component of order) expect(answered(component), component).toBeGreaterThan(-1)
    for (const component of ['etcd', 'proxy']) expect(answered('agent'), `agent after ${component}`).toBeGreaterThan(answered(component))
  })

  it('publishes nothing on 0.0.0.0: the proxy and DNS on the bridge IP, etcd on loopback', async () => {
    const bindings = await docker('ps', '--filter', 'label=io.highway.managed=true', '--format', '{{.Ports}}')
    expect(bindings).toContain(`${ip}:80->80/tcp`)
    expect(bindings).toContain(`${ip}:53->53/udp`)
    expect(bindings).toContain('127.0.0.1:2379->2379/tcp')
    expect(bindings).not.toContain(`${ip}:2379`)
    expect(bindings).not.toMatch(/0\.0\.0\.0|:::/)
  })

  it('runs etcd with every thread’s timer slack at 100 ms, so that its idle timers wake it together, and the other components on the kernel’s default', async () => {
    // The kernel's own figure, read from the host (the engine runs here): etcd's threads, each in nanoseconds.
    const slack = (pid: string) => readFileSync(`/proc/${pid}/timerslack_ns`, 'utf8').trim()
    const pidOf = (component: string) => docker('inspect', `highway-${component}`, '--format', '{{.State.Pid}}')
    const etcd = await pidOf('etcd')
    expect(readFileSync(`/proc/${etcd}/comm`, 'utf8').trim()).toBe('etcd')
    const threads = readdirSync(`/proc/${etcd}/task`)
    expect(threads.length).toBeGreaterThan(1)
    expect(threads.map((thread) => slack(thread))).toEqual(threads.map(() => '100000000'))
    for (const component of ['proxy', 'dns', 'agent']) expect(slack(await pidOf(component)), component).toBe('50000')
  })

  it('answers every name under the domain with the bridge IP, over UDP and TCP', async () => {
    expect(await dig('anything.local', ip)).toEqual([ip])
    expect(await dig('deep.name.under.local', ip)).toEqual([ip])
    expect(await dig('over-tcp.local', ip, 'A', ['+tcp'])).toEqual([ip])
  })

  it('serves highway 404 on the proxy for unknown names', async () => {
    const answer = await curl(`http://${ip}/`, {Host: 'nobody.local'})
    expect(answer.status).toBe(404)
    expect(answer.headers).toMatch(/x-highway: not-found/i)
    expect(answer.body).toContain('No such service')
  })

  it('runs an etcd that answers put and get from the host, as this host’s etcd user under its own keys', async () => {
    const dir = env.HIGHWAY_CONFIG_DIR!
    const pki = (file: string) => readFileSync(join(dir, 'pki', file))
    const {hostId} = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as {hostId: string}
    const client = new Etcd3({
      credentials: {certChain: pki('host.crt'), privateKey: pki('host.key'), rootCertificate: pki('ca.crt')},
      grpcOptions: {'grpc.ssl_target_name_override': 'highway-etcd'},
      hosts: 'https://127.0.0.1:2379',
    })
    const key = `/highway/v2/hosts/${hostId}/e2e-probe`
    try {
      await client.put(key).value('42')
      expect(await client.get(key).string()).toBe('42')
      await client.delete().key(key)
    } finally {
      client.close()
    }
    const etcd = (await infraContainers()).etcd
    const command = await docker('inspect', etcd, '--format', '{{json .Config.Cmd}}')
    expect(command).toContain('--auto-compaction-mode=periodic')
  })

  it('changes nothing when run again', async () => {
    const before = await infraContainers()
    const again = await highway(['up'], env)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('nothing to change')
    expect(await infraContainers()).toEqual(before)
  })

  it('brings back only a removed component', async () => {
    const before = await infraContainers()
    await docker('rm', '-f', before.dns)
    const repaired = await highway(['up'], env)
    expect(repaired.code, repaired.stderr).toBe(0)
    const after = await infraContainers()
    expect(after.dns).toBeDefined()
    expect(after.dns).not.toBe(before.dns)
    expect({...after, dns: ''}).toEqual({...before, dns: ''})
    expect(await dig('again.local', ip)).toEqual([ip])
  })

  it('starts stopped components again without recreating them', async () => {
    const before = await infraContainers()
    await docker('stop', '-t', '1', before.proxy)
    const repaired = await highway(['up'], env)
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(repaired.stdout).toMatch(/proxy: started/)
    expect(await infraContainers()).toEqual(before)
    expect((await curl(`http://${ip}/`, {Host: 'x.local'})).status).toBe(404)
  })

  it('forwards names outside the domain to the upstream servers', async () => {
    // A real upstream DNS server of our own (never the machine's): dnsmasq answering one name.
    const image = await docker('inspect', (await infraContainers()).dns, '--format', '{{.Config.Image}}')
    const upstream = await docker(
      'run',
      '-d',
      '--label',
      'highway-e2e=1',
      image,
      'dnsmasq',
      '-k',
      '--no-resolv',
      '--no-hosts',
      '--address=/upstream.example/10.99.0.7',
    )
    try {
      const upstreamIp = await docker('inspect', upstream, '--format', '{{.NetworkSettings.IPAddress}}')
      // Its own config dir, so the upstream setting is not remembered for the other tests.
      const up = await highway(['up', '--upstream-dns', upstreamIp], makeEnv())
      expect(up.code, up.stderr).toBe(0)
      expect(
        (await until('forwarded answer', async () => ((await dig('upstream.example', ip)).length ? dig('upstream.example', ip) : undefined), 15_000)).value,
      ).toEqual(['10.99.0.7'])
      expect(await dig('still.local', ip)).toEqual([ip])
      // AAAA for a name in the domain is answered here (empty), never forwarded: this upstream would refuse it.
      expect(await digStatus('still.local', ip, 'AAAA')).toBe('NOERROR')
      expect(await dig('still.local', ip, 'AAAA')).toEqual([])
      expect(await digStatus('elsewhere.example', ip)).toBe('REFUSED')
    } finally {
      await docker('rm', '-f', upstream)
      const restore = await highway(['up'], env)
      expect(restore.code, restore.stderr).toBe(0)
    }
  })
})

describe('highway status', () => {
  it('reports every component with state, health, address and image as JSON', async () => {
    const status = await highway(['status', '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    const parsed = JSON.parse(status.stdout) as {components: Array<{component: string; state: string; health: string; address: string; image: string}>}
    const byName = Object.fromEntries(parsed.components.map((component) => [component.component, component]))
    expect(byName.etcd.health).toBe('healthy')
    expect(byName.proxy.health).toBe('answering')
    expect(byName.dns.health).toBe('answering')
    expect(byName.agent.health).toMatch(/docker connected, etcd connected/)
    expect(byName.proxy.address).toBe(`${ip}:80`)
    for (const component of parsed.components) {
      expect(component.state).toBe('running')
      expect(component.image).toMatch(/^highway\/infra:/)
    }
  })
})

describe('bad input', () => {
  it('says in one line that Docker is unreachable, exit 1', async () => {
    const result = await highway(['up'], {...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock'})
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^highway: cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker.sock/)
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/)
  })

  it('rejects an invalid --domain, --bridge-ip, --upstream-dns, --etcd or --tcp-range before creating anything', async () => {
    await highway(['down'], env)
    for (const args of [
      ['--domain', 'bad_domain!'],
      ['--domain', '-x'],
      ['--bridge-ip', '300.1.1.1'],
      ['--bridge-ip', '0.0.0.0'],
      ['--upstream-dns', 'dns.example'],
      ['--upstream-dns', '0.0.0.0'],
      ['--etcd', 'etcd-host:2379'],
      ['--etcd', 'http://a b:2379'],
      ['--tcp-range', '198.19.0.0'],
      ['--tcp-range', '127.0.0.0/16'],
      ['--tcp-range', '172.17.0.0/16'],
    ]) {
      const result = await highway(['up', ...args], env)
      expect(result.code, args.join(' ')).toBe(1)
      expect(result.stderr).toMatch(/^highway: invalid|cannot be 0\.0\.0\.0|^highway: --tcp-range 172\.17\.0\.0\/16 holds the bridge address/)
      expect(await infraContainers()).toEqual({})
    }
  })

  it('rejects a bad --advertise-ip, an unreadable or forged --join file and conflicting registry flags before creating anything', async () => {
    await highway(['down'], env)
    const forged = join(env.HIGHWAY_CONFIG_DIR!, 'forged.join')
    writeFileSync(forged, JSON.stringify({ca: 'x', cert: 'y', endpoints: ['https://10.0.0.5:2379'], highwayJoin: 1, hostId: 'hostb', key: 'z'}), {mode: 0o600})
    for (const [args, message] of [
      [['--advertise-ip', 'not-an-ip'], /^highway: invalid --advertise-ip "not-an-ip"/m],
      [['--advertise-ip', '0.0.0.0'], /^highway: --advertise-ip cannot be 0\.0\.0\.0/m],
      // An address of no interface here (never dialled: the check binds it).
      [['--advertise-ip', '10.255.255.1'], /^highway: --advertise-ip 10\.255\.255\.1 is not an address of this host/m],
      [['--join', join(env.HIGHWAY_CONFIG_DIR!, 'no-such.join')], /^highway: cannot read the join file /m],
      [['--join', forged], /^highway: .*forged\.join is not a highway join file/m],
      [['--join', forged, '--etcd', 'http://10.0.0.6:2379'], /^highway: --join names the etcd to use/m],
    ] as Array<[string[], RegExp]>) {
      const result = await highway(['up', ...args], env)
      expect(result.code, args.join(' ')).toBe(1)
      expect(result.stderr, args.join(' ')).toMatch(message)
      expect(await infraContainers()).toEqual({})
    }
  })

  it('says a base image that is missing and cannot be pulled is missing, and how to make it', async () => {
    await highway(['down'], env)
    const result = await highway(['up', '--base-image', 'highway-test/no-such-base:1'], makeEnv())
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^highway: base image highway-test\/no-such-base:1 is not on this engine and could not be pulled/m)
    expect(result.stderr).toContain('debootstrap')
    expect(await infraContainers()).toEqual({})
  })

  it("shows a failed build step's own error (docker-modem reports success on such streams)", async () => {
    // A base image without apt-get: the Dockerfile's RUN step fails inside the build.
    await ensureAppImage()
    const result = await highway(['up', '--base-image', 'highway-test/busybox:1'], makeEnv())
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^highway: building highway\/infra:\S+ failed: The command .*apt-get update.* returned a non-zero code/m)
    expect(await infraContainers()).toEqual({})
  })

  it('names a taken port 80 and its holder, and leaves nothing behind', async () => {
    await highway(['down'], env)
    const squatter = await docker(
      'run',
      '-d',
      '--label',
      'highway-e2e=1',
      '--name',
      'e2e-port80',
      '-p',
      `${ip}:80:9999`,
      'highway-test/busybox:1',
      'sleep',
      '300',
    )
    try {
      const result = await highway(['up'], env)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`port 80/tcp on ${ip} is taken by container e2e-port80`)
      expect(await infraContainers()).toEqual({})
      expect(await docker('inspect', squatter, '--format', '{{.State.Running}}')).toBe('true')
    } finally {
      await docker('rm', '-f', squatter)
    }
  })

  it('removes what it created when interrupted with Ctrl-C', async () => {
    await highway(['down'], env)
    const child = spawn(process.execPath, [BIN, 'up'], {env, stdio: 'pipe'})
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    await until('an infrastructure container to exist', async () => (Object.keys(await infraContainers()).length > 0 ? true : undefined), 60_000, 5)
    child.kill('SIGINT')
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, output).toBe(130)
    expect(output).toContain('interrupted')
    expect(await infraContainers()).toEqual({})
  })
})

describe('highway down', () => {
  it('removes every highway container, keeps other containers and the etcd volume, and is idempotent', async () => {
    const up = await highway(['up'], env)
    expect(up.code, up.stderr).toBe(0)
    const bystander = await docker('run', '-d', '--label', 'highway-e2e=1', 'highway-test/busybox:1', 'sleep', '300')
    try {
      const down = await highway(['down'], env)
      expect(down.code).toBe(0)
      expect(await infraContainers()).toEqual({})
      expect(await docker('inspect', bystander, '--format', '{{.State.Running}}')).toBe('true')
      expect(await docker('volume', 'ls', '-q', '--filter', 'name=highway-etcd-v2')).toBe('highway-etcd-v2')
      const again = await highway(['down'], env)
      expect(again.code).toBe(0)
      expect(again.stdout).toContain('nothing to remove')
    } finally {
      await docker('rm', '-f', bystander)
    }
  })

  it('removes the etcd volume with --purge, and keeps the image with --keep-images', async () => {
    expect((await highway(['up'], env)).code).toBe(0)
    const image = await infraImage()
    const purge = await highway(PURGE_KEEPING_IMAGES, env)
    expect(purge.code).toBe(0)
    expect(purge.stdout).not.toMatch(/removed image/)
    expect(await docker('volume', 'ls', '-q', '--filter', 'label=io.highway.managed=true')).toBe('')
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', image)).toMatch(/^sha256:/)
  })
})
