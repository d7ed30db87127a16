/** macOS: a file of highway's own, /etc/resolver/<domain>, naming highway's DNS for that domain. */
import {SCUTIL_DNS} from '../commands.js'
import type {MechanismDef, PlanInput, PlanParts} from '../mechanism.js'
import {isLocalDomain} from '../nsswitch.js'
import type {Plan, ResolverContext, Trap} from '../types.js'
import {fileChange, ownedFileContent} from './shared.js'

function resolverFile(domain: string): string {
  return `/etc/resolver/${domain}`
}

function plan({domain, dnsIp, observed}: PlanInput): PlanParts {
  const path = resolverFile(domain)
  const observedFile = observed.files[path]
  return {
    files: fileChange(
      path,
      observedFile?.content ?? null,
      ownedFileContent(domain, `nameserver ${dnsIp}`),
      observedFile?.missingDirs ?? [],
      `send .${domain} to ${dnsIp}`,
    ),
    notes: [
      `split DNS: only names under .${domain} go to ${dnsIp}; check with \`scutil --dns\``,
      'a name looked up before may still be cached as missing: `sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder`',
    ],
  }
}

function traps(_detection: unknown, domain: string, dnsIp: string): Trap[] {
  const traps: Trap[] = []
  if (isLocalDomain(domain)) {
    traps.push({
      kind: 'macos-mdns',
      blocking: false,
      handled: false,
      message: 'macOS sends .local names to multicast DNS (Bonjour) first: lookups may wait about 5 s before /etc/resolver/local is asked',
      fix: 'use another domain (`highway up --domain test`) for instant lookups',
    })
  }
  if (!dnsIp.startsWith('127.')) {
    traps.push({
      kind: 'docker-desktop',
      blocking: false,
      handled: false,
      message: `with Docker Desktop the bridge address ${dnsIp} is inside Docker's VM and cannot be reached from macOS`,
      fix: '`highway up --host-ip 127.0.0.1` (what `up` does by itself on Docker Desktop), then `sudo highway dns-setup` again',
    })
  }
  return traps
}

async function hops(ctx: ResolverContext, {domain, dnsIp}: Plan) {
  const result = await ctx.runner.run(SCUTIL_DNS.cmd, SCUTIL_DNS.args)
  const listed = new RegExp(`domain\\s*:\\s*${domain.replaceAll('.', '\\.')}\\s*\\n\\s*nameserver\\[0\\]\\s*:\\s*${dnsIp.replaceAll('.', '\\.')}`).test(
    result.stdout,
  )
  return [
    listed
      ? {hop: '/etc/resolver', ok: true, detail: `scutil --dns lists ${domain} -> ${dnsIp}`}
      : {hop: '/etc/resolver', ok: false, detail: `macOS has not picked up /etc/resolver/${domain}: \`scutil --dns\` does not list it`},
  ]
}

export const macosResolver: MechanismDef = {
  name: 'macos-resolver',
  platform: 'darwin',
  detect: async (_ctx, rootFs) => ({
    description: `macOS per-domain resolvers in /etc/resolver${(await rootFs.isDir('/etc/resolver')) ? '' : ' (the directory does not exist yet)'}`,
  }),
  paths: (_detection, domain) => [resolverFile(domain)],
  writes: (domain) => [resolverFile(domain)],
  plan,
  traps,
  hops,
}
