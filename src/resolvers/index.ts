/**
 * The OS resolver, behind one module: `highway dns-setup` (apply, undo, dry run) and the check
 * `highway up` runs for settings that live only at runtime.
 */
export {applyDnsSetup, undoDnsSetup, type ApplyResult, type UndoResult} from './setup.js'
export {checkRuntimeSetup, type RuntimeCheck} from './runtime.js'
export {currentPlatform} from './platform.js'
export {renderApply, renderUndo, type Line} from './render.js'
export {scratchRunner, systemRunner} from './runner.js'
export {defaultDnsQuery} from './dns-query.js'
export type {ResolverContext} from './types.js'
