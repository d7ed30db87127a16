/**
 * The OS resolver, behind one module: `highway dns-setup` (apply, undo, dry run) and the check
 * `highway up` runs for settings that live only at runtime.
 */
export {applyDnsSetup, undoDnsSetup, type ApplyOptions, type ApplyResult, type UndoResult} from './setup.js'
export {checkRuntimeSetup, type RuntimeCheck, type RuntimeCheckOptions, type RuntimeStatus} from './runtime.js'
export {detect} from './detect.js'
export {currentPlatform} from './platform.js'
export {renderApply, renderUndo, type Line} from './render.js'
export {scratchRunner, systemRunner, formatCommand} from './runner.js'
export {statePath} from './state.js'
export {defaultDnsQuery} from './dns-query.js'
export {PROBE_LABEL, type VerifyResult} from './verify.js'
export type {CommandResult, CommandRunner, Detection, Mechanism, Plan, Platform, ResolverContext} from './types.js'
