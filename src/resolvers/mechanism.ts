/**
 * What one way of resolving names (a mechanism: systemd-resolved, resolvconf, macOS /etc/resolver...)
 * implements. Adding a mechanism means writing one of these in mechanisms/ and listing it in
 * mechanisms/index.ts; detect, observe, plan, traps, verify and undo ask the table, never a switch.
 */
import type {Observed} from './observe.js'
import type {RootFs} from './root-fs.js'
import type {DnsSetupState} from './state.js'
import type {CommandStep, Detection, FileChange, Mechanism, Plan, Platform, ResolvConfInfo, ResolverContext, Trap} from './types.js'

/** What every Linux detector is shown, read once before the first one is asked. */
export interface LinuxFacts {
  ctx: ResolverContext
  rootFs: RootFs
  resolvConf: ResolvConfInfo
  /** The comment block at the top of the file /etc/resolv.conf leads to. */
  header: string
  wsl: {isWsl: boolean; generates: boolean}
  networkManager: Detection['networkManager']
}

/** A detector's answer; `mechanism` only when it differs from the detector's own (an unsupported variant). */
export type Detected = Pick<Detection, 'description'> & Partial<Pick<Detection, 'mechanism' | 'unsupported' | 'warnings' | 'resolvedRunning'>>

export interface PlanInput {
  detection: Detection
  domain: string
  dnsIp: string
  observed: Observed
}

/** The part of a plan a mechanism decides; the rest (description, traps...) is common. */
export type PlanParts = Partial<Pick<Plan, 'files' | 'commands' | 'undo' | 'runtime' | 'runtimeOnly' | 'notes'>>

/** One hop between the OS's resolver and highway's DNS, as verify reports it. */
export interface Hop {
  hop: string
  ok: boolean
  detail: string
}

interface Common {
  name: Mechanism
  /** The files the plan reads and may write; their content reaches plan() as observed.files. */
  paths?(detection: Detection, domain: string): string[]
  /**
   * Every file this mechanism may create or edit, given where /etc/resolv.conf leads now (`links`:
   * each symlink target in turn). `--undo` refuses a record naming any other file. None when absent.
   */
  writes?(domain: string, resolvConf: {path: string; links: string[]}): string[]
  /**
   * Commands that lock down highway's state folder right after it is created and before anything is
   * written there (`dir`: the folder as the OS names it), for platforms where a mode says nothing.
   */
  stateDirCommands?(ctx: ResolverContext, dir: string): CommandStep[]
  /** The runtime state plan() compares against (settings only a program can tell). Reads only. */
  observe?(ctx: ResolverContext, rootFs: RootFs, detection: Detection, dnsIp: string): Promise<Partial<Observed>>
  /** Pure: what to change so names under the domain go to dnsIp. Throws a UserError when highway will not. */
  plan(input: PlanInput): PlanParts
  /** This mechanism's reasons the name may still not resolve (nsswitch's are common to Linux). */
  traps?(detection: Detection, domain: string, dnsIp: string): Trap[]
  /** After a failed lookup: check the hop this mechanism adds between the OS and highway's DNS. */
  hops?(ctx: ResolverContext, plan: Plan, probe: string): Promise<Hop[]>
  /** For undo: the runtime state recorded in `state.runtime`, as it is now. */
  observeUndo?(ctx: ResolverContext, rootFs: RootFs, state: DnsSetupState): Promise<Partial<Observed>>
  /** For undo, after the recorded files are handled (`files`: what undo changes in them). Pure. */
  undo?(state: DnsSetupState, observed: Observed, files: FileChange[]): {commands: CommandStep[]; notes: string[]}
  /** Whether a `runtime` entry of the state file is one of this mechanism's, well formed. */
  validRuntime?(runtime: Record<string, unknown>): boolean
}

export type MechanismDef = Common &
  (
    | {
        platform: 'linux'
        /**
         * Linux detectors are asked in table order; the first answer wins. Only those that set
         * `readsDanglingResolvConf` are asked while /etc/resolv.conf leads to nothing.
         */
        detect(facts: LinuxFacts): Promise<Detected | null>
        readsDanglingResolvConf?: boolean
      }
    | {
        platform: Exclude<Platform, 'linux'>
        /** The one mechanism of its platform. */
        detect(ctx: ResolverContext, rootFs: RootFs): Promise<Detected>
      }
  )
