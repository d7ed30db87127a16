import type Docker from 'dockerode'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {UserError} from '../core/errors.js'
import {PACKAGE_ROOT, VERSION} from '../core/package-info.js'
import {MANAGED} from '../core/labels.js'
import {isNotFound} from './client.js'
import {eachLine} from './lines.js'

/** The build context `npm run build` writes: Dockerfile, the bundled agent and etcd3's protos. */
export const IMAGE_CONTEXT = join(PACKAGE_ROOT, 'dist', 'agent-image')
export const IMAGE_REPOSITORY = 'highway/infra'

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

/**
 * The tag names the version and a hash of the context and base image, so a second `up` reuses the
 * image and a changed agent or Dockerfile gets a new one, never a stale one under the same tag.
 */
export function imageTag(baseImage: string, context = IMAGE_CONTEXT): string {
  if (!existsSync(join(context, 'Dockerfile'))) {
    throw new Error(`the image build context is missing at ${context}: run \`npm run build\``)
  }
  const hash = createHash('sha256').update(baseImage)
  for (const file of files(context).sort()) hash.update(relative(context, file)).update(readFileSync(file))
  return `${IMAGE_REPOSITORY}:${VERSION}-${hash.digest('hex').slice(0, 10)}`
}

export async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect()
    return true
  } catch (error) {
    if (isNotFound(error)) return false
    throw error
  }
}

interface ProgressLine {
  stream?: string
  status?: string
  error?: string
  errorDetail?: {message?: string}
}

/**
 * Reads a build or pull stream to its end, failing on the first line that carries an error:
 * docker-modem's followProgress reports success even then.
 */
export function followStream(stream: NodeJS.ReadableStream, onLine: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined
    // Registered before the 'end' listener below, so the last line is seen before the verdict.
    eachLine(stream, (raw) => {
      let line: ProgressLine
      try {
        line = JSON.parse(raw) as ProgressLine
      } catch {
        return
      }
      if (line.error || line.errorDetail) {
        failure ??= new Error((line.errorDetail?.message ?? line.error ?? 'unknown error').trim())
      }
      const text = (line.stream ?? line.status ?? '').trim()
      if (text) onLine(text)
    })
    stream.on('error', reject)
    stream.on('end', () => {
      if (failure) reject(failure)
      else resolve()
    })
  })
}

async function ensureBaseImage(docker: Docker, baseImage: string, onLine: (text: string) => void): Promise<void> {
  if (await imageExists(docker, baseImage)) return
  try {
    onLine(`pulling ${baseImage}`)
    await followStream(await docker.pull(baseImage), onLine)
  } catch (error) {
    throw new UserError(`base image ${baseImage} is not on this engine and could not be pulled (${(error as Error).message.trim()})`, {
      suggestion: `build it locally (for example \`debootstrap --variant=minbase trixie DIR && tar -C DIR -c . | docker import - ${baseImage}\`) or pass --base-image`,
      cause: error,
    })
  }
}

/** Builds the infrastructure image unless this exact one exists; returns its tag. */
export async function ensureInfraImage(docker: Docker, baseImage: string, onLine: (text: string) => void = () => {}): Promise<string> {
  const tag = imageTag(baseImage)
  if (await imageExists(docker, tag)) return tag
  await ensureBaseImage(docker, baseImage, onLine)
  const stream = await docker.buildImage(
    {context: IMAGE_CONTEXT, src: files(IMAGE_CONTEXT).map((file) => relative(IMAGE_CONTEXT, file))},
    // forcerm: the container of a failed step is removed too (rm alone keeps it, exited, for debugging).
    {buildargs: {BASE: baseImage}, forcerm: true, labels: {[MANAGED]: 'true'}, rm: true, t: tag},
  )
  try {
    await followStream(stream, onLine)
  } catch (error) {
    throw new UserError(`building ${tag} failed: ${(error as Error).message}`, {cause: error})
  }
  return tag
}
