import {formatUserError, isUserError} from '../core/errors.js'
import {parseRunArgs} from '../docker/run-args.js'
import {runService} from './run.js'

/**
 * bin/run.cjs's lean path for `highway run`: the same runService the oclif command calls, with the
 * same one-line errors, without loading oclif. Returns 'help' when `--help` comes before IMAGE.
 */
export async function main(argv: string[]): Promise<'help' | number> {
  try {
    if (parseRunArgs(argv).help) return 'help'
    return await runService(argv, {env: process.env, stderr: (line) => process.stderr.write(`${line}\n`)})
  } catch (error) {
    if (!isUserError(error)) throw error
    process.stderr.write(formatUserError(error))
    return error.exitCode
  }
}
