/** Asking one DNS server directly, bypassing the OS's resolver: how verify tells which hop failed. */
import {Resolver} from 'node:dns/promises'
import type {ResolverContext} from './types.js'

export async function defaultDnsQuery(server: string, name: string): Promise<string[]> {
  const resolver = new Resolver({timeout: 2000, tries: 1})
  resolver.setServers([server])
  return resolver.resolve4(name)
}

export async function askServer(ctx: ResolverContext, server: string, name: string): Promise<{addresses: string[]; error?: string}> {
  try {
    return {addresses: await (ctx.dnsQuery ?? defaultDnsQuery)(server, name)}
  } catch (error) {
    return {addresses: [], error: (error as NodeJS.ErrnoException).code ?? (error as Error).message}
  }
}
