import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {UserError} from '../core/errors.js'
import {PACKAGE_ROOT, VERSION} from '../core/package-info.js'
import {MANAGED} from '../core/labels.js'
import type {DockerClient, ImageClient, ImageSummary} from './types.js'

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
 * The tag names the version and a hash of the context and of the base image's ID (a digest of its
 * contents), so a second `up` reuses the image, a changed agent or Dockerfile gets a new one, and
 * two hosts whose base image of the same name differs build under two tags, never one.
 */
export function imageTag(baseImageId: string, context = IMAGE_CONTEXT): string {
  if (!existsSync(join(context, 'Dockerfile'))) {
    throw new Error(`the image build context is missing at ${context}: run \`npm run build\``)
  }
  const hash = createHash('sha256').update(baseImageId)
  for (const file of files(context).sort()) hash.update(relative(context, file)).update(readFileSync(file))
  return `${IMAGE_REPOSITORY}:${VERSION}-${hash.digest('hex').slice(0, 10)}`
}

/** Pulls a base image the engine lacks, and returns its ID. */
async function pullBase(images: ImageClient, baseImage: string, onLine: (text: string) => void): Promise<string> {
  try {
    onLine(`pulling ${baseImage}`)
    await images.pull(baseImage, onLine)
  } catch (error) {
    throw new UserError(`base image ${baseImage} is not on this engine and could not be pulled (${(error as Error).message.trim()})`, {
      // Slimmed as Debian's own -slim image is: debootstrap leaves 135 MB of documentation, translations
      // and apt's cache in its 214, and every image built on it (highway's) would carry them.
      suggestion: `build it locally (for example \`debootstrap --variant=minbase trixie DIR && rm -rf DIR/usr/share/doc/* DIR/usr/share/man/* DIR/usr/share/locale/* DIR/var/cache/apt/archives/*.deb DIR/var/lib/apt/lists/* && tar -C DIR -c . | docker import - ${baseImage}\`) or pass --base-image`,
      cause: error,
    })
  }
  const pulled = await images.id(baseImage)
  if (!pulled) throw new UserError(`base image ${baseImage} is still missing after a pull that reported success`)
  return pulled
}

/** Labels on the infrastructure image: which base it was built from, by name (set by the build) and by ID (by the Dockerfile). */
export const BASE_IMAGE_LABEL = 'io.highway.base-image'
export const BASE_IMAGE_ID_LABEL = 'io.highway.base-image-id'

/**
 * An image of this context built from a base of this name, on an engine that lacks the base (the
 * image was copied from another host with `docker save | docker load`). Its tag must be the one
 * its recorded base ID and this context hash to: a tag that does not is never taken.
 */
async function builtFrom(images: ImageClient, baseImage: string, context: string): Promise<string | undefined> {
  for (const image of await images.list([`${MANAGED}=true`, `${BASE_IMAGE_LABEL}=${baseImage}`])) {
    const baseId = image.labels[BASE_IMAGE_ID_LABEL]
    if (!baseId) continue
    const tag = imageTag(baseId, context)
    if (image.tags.includes(tag)) return tag
  }
  return undefined
}

/**
 * Builds the infrastructure image unless this exact one exists; returns its tag. The build starts
 * FROM the base image's ID, not its name, so a tag moved between the lookup and the build cannot
 * slip other contents under the hash; the Dockerfile records that ID as a label.
 */
export async function ensureInfraImage(
  images: ImageClient,
  baseImage: string,
  onLine: (text: string) => void = () => {},
  context = IMAGE_CONTEXT,
): Promise<string> {
  const present = await images.id(baseImage)
  if (!present) {
    const copied = await builtFrom(images, baseImage, context)
    if (copied) return copied
  }
  const baseId = present ?? (await pullBase(images, baseImage, onLine))
  const tag = imageTag(baseId, context)
  if (await images.exists(tag)) return tag
  const request = {
    buildArgs: {BASE: baseId},
    context,
    files: files(context).map((file) => relative(context, file)),
    labels: {[MANAGED]: 'true', [BASE_IMAGE_LABEL]: baseImage},
    tag,
  }
  try {
    await images.build(request, onLine)
  } catch (error) {
    throw new UserError(`building ${tag} failed: ${(error as Error).message}`, {cause: error})
  }
  return tag
}

/**
 * An image highway built: its label, and every tag in highway's repository. The label alone is not
 * enough: an image a user builds FROM highway's inherits it, and is the user's.
 */
export function isHighwayImage(image: ImageSummary): boolean {
  return image.labels[MANAGED] === 'true' && image.tags.length > 0 && image.tags.every((tag) => tag.startsWith(`${IMAGE_REPOSITORY}:`))
}

/**
 * Removes highway's infrastructure images that no container uses (running or stopped, highway's or
 * anyone's), except `keep`; returns the tags removed. Never forced: a container created from one in
 * the meantime makes the engine refuse, and that image stays.
 */
export async function removeUnusedImages(docker: Pick<DockerClient, 'containers' | 'images'>, keep: string | null): Promise<string[]> {
  const used = new Set<string>()
  for (const container of await docker.containers.list([])) {
    used.add(container.ImageID)
    used.add(container.Image)
  }
  const removed: string[] = []
  for (const image of await docker.images.list([`${MANAGED}=true`])) {
    if (!isHighwayImage(image) || (keep !== null && image.tags.includes(keep))) continue
    if (used.has(image.id) || image.tags.some((tag) => used.has(tag))) continue
    for (const tag of image.tags) if (await docker.images.removeTag(tag)) removed.push(tag)
  }
  return removed
}
