// highway dns-setup on machines that really run each resolver setup: Debian 13 containers booted
// with systemd as PID 1 (test/e2e/resolvers/Dockerfile), running systemd-resolved, NetworkManager,
// Debian's resolvconf or openresolv for real. The CLI runs inside each one (this checkout mounted
// read-only, Debian's node) against the `highway up` of the outer engine, whose bridge address the
// container reaches through its eth0. Each container's own upstream DNS is a dnsmasq of ours that
// answers one outside name, so nothing leaves the machine and the "outside name still resolves"
// check means something. Nothing here touches this machine's own /etc/resolv.conf.
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {APP_IMAGE, ROOT, bridgeIp, docker, dockerResult, ensureAppImage, highway, makeEnv, removeServices, serve} from './harness.js'

const env = makeEnv()
const DOMAIN = 'local'
const OUTSIDE = 'upstream.example'
const OUTSIDE_IP = '10.99.0.7'
const DOCKERFILE = join(ROOT, 'test', 'e2e', 'resolvers', 'Dockerfile')
// Tagged by the Dockerfile's content: a second run reuses the images, a changed Dockerfile rebuilds.
const TAG = createHash('sha256').update(readFileSync(DOCKERFILE)).digest('hex').slice(0, 12)
const image = (target: string) => `highway-test/resolver-${target}:${TAG}`
const TARGETS = ['resolved', 'resolvconf', 'openresolv']

let ip: string
let upstreamIp: string
const containers: string[] = []
const started: string[] = []

async function ensureImages(): Promise<void> {
  for (const target of TARGETS) {
    if ((await dockerResult('image', 'inspect', image(target))).code === 0) continue
    const built = await dockerResult('build', '--target', target, '-t', image(target), join(ROOT, 'test', 'e2e', 'resolvers'))
    if (built.code !== 0) throw new Error(`building ${image(target)} failed:\n${built.stdout}\n${built.stderr}`)
  }
}

/** A Debian 13 machine with systemd as PID 1 (--privileged is refused on this kind of engine), up and running. */
async function boot(target: string): Promise<string> {
  const id = await docker(
    'run',
    '-d',
    '--label',
    'highway-e2e=1',
    '--cap-add',
    'SYS_ADMIN',
    '--cap-add',
    'NET_ADMIN',
    '--security-opt',
    'seccomp=unconfined',
    '-v',
    '/sys/fs/cgroup:/sys/fs/cgroup:ro',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    // Docker's resolv.conf (until a scenario replaces it) names our upstream, never this machine's server.
    '--dns',
    upstreamIp,
    '-v',
    `${ROOT}:/highway:ro`,
    '-v',
    `${env.HIGHWAY_CONFIG_DIR}:/hwconf:ro`,
    image(target),
    '/sbin/init',
  )
  containers.push(id)
  for (let attempt = 0; attempt < 150; attempt++) {
    const state = (await dockerResult('exec', id, 'systemctl', 'is-system-running')).stdout.trim()
    if (state === 'running' || state === 'degraded') return id
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${image(target)} did not finish booting: ${(await dockerResult('exec', id, 'systemctl', '--failed')).stdout}`)
}

const PRELUDE = String.raw`
set -u
hw() { HIGHWAY_CONFIG_DIR=/hwconf NO_COLOR=1 node /highway/bin/run.js "$@"; }
step() { echo "== $1"; eval "$2" 2>&1; echo "rc=$?"; }
# Every file, link and directory under /etc with its content's hash: undo must leave it identical.
etc_listing() { find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum; find /etc -xdev -type l -printf '%p -> %l\n' | sort; find /etc -xdev -type d | sort; }
wait_for() { for i in $(seq 100); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready: $1"; return 1; }
`

/** The checks every mechanism goes through, after `prep` has set the machine up. `runtime` prints the runtime settings undo must restore. */
function standardScript(prep: string, runtime: string, extra = ''): string {
  return [
    PRELUDE,
    `runtime() { ${runtime}; }`,
    `{ ${prep}; } >/tmp/prep.log 2>&1 || { cat /tmp/prep.log; exit 90; }`,
    'etc_listing >/tmp/etc-before; runtime >/tmp/runtime-before 2>&1',
    `step outside-before 'getent hosts ${OUTSIDE}'`,
    `step setup 'hw dns-setup'`,
    `step getent-api 'getent hosts api.${DOMAIN}'`,
    `step curl-api 'curl -s -m 5 --noproxy "*" http://api.${DOMAIN}/'`,
    `step outside-after 'getent hosts ${OUTSIDE}'`,
    extra,
    `step setup-again 'hw dns-setup'`,
    `step undo 'hw dns-setup --undo'`,
    `step etc-diff 'etc_listing >/tmp/etc-after; diff /tmp/etc-before /tmp/etc-after'`,
    `step runtime-diff 'runtime >/tmp/runtime-after 2>&1; diff /tmp/runtime-before /tmp/runtime-after && cat /tmp/runtime-after'`,
    `step undo-again 'hw dns-setup --undo'`,
    `step outside-after-undo 'getent hosts ${OUTSIDE}'`,
  ].join('\n')
}

type Sections = Map<string, {output: string; code: number}>

async function runScript(id: string, script: string, label: string): Promise<Sections> {
  const result = await dockerResult('exec', id, 'bash', '-c', script)
  const transcript = result.stdout + result.stderr
  console.log(`${label} (exit ${result.code}):\n${transcript}`)
  if (result.code !== 0) throw new Error(`${label}: the script failed (exit ${result.code}):\n${transcript}`)
  const sections: Sections = new Map()
  const parts = result.stdout.split(/^== (\S+)\n/m).slice(1)
  for (let index = 0; index < parts.length; index += 2) {
    const body = parts[index + 1]
    const code = Number(/rc=(\d+)\n?$/.exec(body)?.[1] ?? -1)
    sections.set(parts[index], {output: body.replace(/rc=\d+\n?$/, ''), code})
  }
  return sections
}

function section(sections: Sections, name: string): {output: string; code: number} {
  const found = sections.get(name)
  if (!found) throw new Error(`step ${name} did not run: ${[...sections.keys()].join(', ')}`)
  return found
}

const RESOLVED_RUNTIME = 'resolvectl dns; resolvectl domain'

function resolvedPrep(resolvConf: string, more = ''): string {
  return [
    'umount /etc/resolv.conf',
    'mkdir -p /etc/systemd/resolved.conf.d',
    // The machine's upstream: global, as a DHCP-less host configures it; no fallback servers, ever.
    `printf '[Resolve]\\nDNS=${upstreamIp}\\nFallbackDNS=\\nLLMNR=no\\n' >/etc/systemd/resolved.conf.d/upstream.conf`,
    `ln -sf ${resolvConf} /etc/resolv.conf`,
    more,
    'systemctl restart systemd-resolved',
    "wait_for 'resolvectl status'",
  ]
    .filter(Boolean)
    .join(' && ')
}

/** The assertions every mechanism shares. */
function standardChecks(get: () => Sections, mechanism: RegExp, applied: RegExp): void {
  it('detects the mechanism and applies its change', () => {
    const setup = section(get(), 'setup')
    expect(setup.code, setup.output).toBe(0)
    expect(setup.output).toMatch(mechanism)
    expect(setup.output).toMatch(applied)
    expect(setup.output).toContain(`verified: highway-probe.${DOMAIN} -> ${ip}`)
  })

  it('resolves api.<domain> and curl reaches it through the OS path; an outside name still resolves', () => {
    const lookup = section(get(), 'getent-api')
    expect(lookup.code, lookup.output).toBe(0)
    expect(lookup.output.trim().split(/\s+/)).toEqual([ip, `api.${DOMAIN}`])
    const page = section(get(), 'curl-api')
    expect(page.code, page.output).toBe(0)
    expect(page.output.trim()).toBe('hello-api')
    for (const name of ['outside-before', 'outside-after', 'outside-after-undo']) {
      const outside = section(get(), name)
      expect(outside.code, `${name}: ${outside.output}`).toBe(0)
      expect(outside.output.trim().split(/\s+/)).toEqual([OUTSIDE_IP, OUTSIDE])
    }
  })

  it('changes nothing when run twice; --undo restores /etc byte for byte and the runtime settings; undo twice does nothing', () => {
    const again = section(get(), 'setup-again')
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain(`nothing to change: names under .${DOMAIN} already go to ${ip}`)
    const undo = section(get(), 'undo')
    expect(undo.code, undo.output).toBe(0)
    const etc = section(get(), 'etc-diff')
    expect(etc.code, etc.output).toBe(0)
    const runtime = section(get(), 'runtime-diff')
    expect(runtime.code, runtime.output).toBe(0)
    expect(section(get(), 'undo-again').output).toMatch(/^nothing to undo/)
  })
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await ensureImages()
  await removeServices()
  const first = await highway(['up'], env)
  expect(first.code, first.stdout + first.stderr).toBe(0)
  const infraImage = await docker('ps', '--filter', 'label=io.highway.component=dns', '--format', '{{.Image}}')
  // The machines' own upstream DNS: one outside name, NXDOMAIN for everything else (as a real one
  // answers names it does not know), so a lookup that went to the wrong server fails.
  const upstream = await docker(
    'run',
    '-d',
    '--label',
    'highway-e2e=1',
    infraImage,
    'dnsmasq',
    '-k',
    '--no-resolv',
    '--no-hosts',
    '--address=/#/',
    `--address=/${OUTSIDE}/${OUTSIDE_IP}`,
  )
  started.push(upstream)
  upstreamIp = await docker('inspect', upstream, '--format', '{{.NetworkSettings.IPAddress}}')
  const up = await highway(['up', '--upstream-dns', upstreamIp], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  const api = await highway(['run', '-d', '--name', 'api', '-p', '9090', APP_IMAGE, ...serve('hello-api')], env)
  expect(api.code, api.stdout + api.stderr).toBe(0)
})

afterAll(async () => {
  const all = [...containers, ...started]
  if (all.length > 0) await docker('rm', '-f', ...all)
  await removeServices()
  await highway(['down', '--purge'], env)
})

describe('systemd-resolved with the stub resolv.conf', () => {
  let sections: Sections
  beforeAll(async () => {
    const id = await boot('resolved')
    sections = await runScript(
      id,
      standardScript(resolvedPrep('../run/systemd/resolve/stub-resolv.conf'), RESOLVED_RUNTIME, `step link 'resolvectl dns eth0; resolvectl domain eth0'`),
      'resolved (stub)',
    )
  })
  standardChecks(() => sections, /^detected: systemd-resolved with its stub listener 127\.0\.0\.53/m, /resolvectl dns eth0/)

  it('attaches the setting to eth0, the link the bridge address is reached through', () => {
    const link = section(sections, 'link')
    expect(link.output).toMatch(new RegExp(`^Link \\d+ \\(eth0\\): ${ip.replaceAll('.', '\\.')}$`, 'm'))
    expect(link.output).toMatch(/^Link \d+ \(eth0\): ~local$/m)
  })
})

describe('systemd-resolved with the non-stub resolv.conf', () => {
  let sections: Sections
  beforeAll(async () => {
    const id = await boot('resolved')
    sections = await runScript(id, standardScript(resolvedPrep('../run/systemd/resolve/resolv.conf'), RESOLVED_RUNTIME), 'resolved (non-stub)')
  })
  standardChecks(() => sections, /^detected: systemd-resolved without its stub/m, /resolvectl dns eth0/)
})

describe("Debian's resolvconf", () => {
  let sections: Sections
  beforeAll(async () => {
    const id = await boot('resolvconf')
    const prep = [
      'umount /etc/resolv.conf',
      'ln -sf ../run/resolvconf/resolv.conf /etc/resolv.conf',
      // What ifupdown's DHCP hook would add for eth0.
      `echo 'nameserver ${upstreamIp}' | resolvconf -a eth0.inet`,
    ].join(' && ')
    const runtime = 'ls /run/resolvconf/interface; cat /run/resolvconf/interface/* /etc/resolv.conf'
    sections = await runScript(id, standardScript(prep, runtime, `step resolv.conf 'cat /etc/resolv.conf'`), 'resolvconf')
  })
  standardChecks(() => sections, /^detected: Debian resolvconf/m, /resolvconf -a lo\.highway/)
})

describe('openresolv', () => {
  let sections: Sections
  beforeAll(async () => {
    const id = await boot('openresolv')
    const prep = ['umount /etc/resolv.conf', `echo 'nameserver ${upstreamIp}' | resolvconf -a eth0`].join(' && ')
    const runtime = 'ls /run/resolvconf/interfaces; cat /run/resolvconf/interfaces/* /etc/resolv.conf'
    sections = await runScript(id, standardScript(prep, runtime, `step resolv.conf 'cat /etc/resolv.conf'`), 'openresolv')
  })
  standardChecks(() => sections, /^detected: openresolv/m, /resolvconf -a lo\.highway/)
})
