import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {UserError} from '../core/errors.js'
import {PACKAGE_ROOT, VERSION} from '../core/package-info.js'
import {MANAGED} from '../core/labels.js'
import type {ImageClient} from './types.js'

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

async function ensureBaseImage(images: ImageClient, baseImage: string, onLine: (text: string) => void): Promise<void> {
  if (await images.exists(baseImage)) return
  try {
    onLine(`pulling ${baseImage}`)
    await images.pull(baseImage, onLine)
  } catch (error) {
    throw new UserError(`base image ${baseImage} is not on this engine and could not be pulled (${(error as Error).message.trim()})`, {
      suggestion: `build it locally (for example \`debootstrap --variant=minbase trixie DIR && tar -C DIR -c . | docker import - ${baseImage}\`) or pass --base-image`,
      cause: error,
    })
  }
}

/** Builds the infrastructure image unless this exact one exists; returns its tag. */
export async function ensureInfraImage(images: ImageClient, baseImage: string, onLine: (text: string) => void = () => {}): Promise<string> {
  const tag = imageTag(baseImage)
  if (await images.exists(tag)) return tag
  await ensureBaseImage(images, baseImage, onLine)
  const request = {
    buildArgs: {BASE: baseImage},
    context: IMAGE_CONTEXT,
    files: files(IMAGE_CONTEXT).map((file) => relative(IMAGE_CONTEXT, file)),
    labels: {[MANAGED]: 'true'},
    tag,
  }
  try {
    await images.build(request, onLine)
  } catch (error) {
    throw new UserError(`building ${tag} failed: ${(error as Error).message}`, {cause: error})
  }
  return tag
}
