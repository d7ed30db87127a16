import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {ensureInfraImage, imageTag, isHighwayImage, removeUnusedImages} from '../../../src/docker/image.js'
import {followStream} from '../../../src/docker/streams.js'
import type {BuildRequest, ImageClient} from '../../../src/docker/types.js'
import {FakeDocker} from '../support/fake-docker.js'
import {rejectedUserError} from '../support/user-error.js'

/** Feeds `chunks` into a fresh stream (as Buffers, like the engine's HTTP body) and follows it. */
async function follow(chunks: Array<string | Buffer>): Promise<{lines: string[]; error?: Error}> {
  const stream = new PassThrough()
  const lines: string[] = []
  const done = followStream(stream, (text) => lines.push(text))
  for (const chunk of chunks) stream.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)
  stream.end()
  try {
    await done
    return {lines}
  } catch (error) {
    return {error: error as Error, lines}
  }
}

const json = (value: object) => `${JSON.stringify(value)}\r\n`

describe('followStream', () => {
  it('passes each stream and status text, trimmed, in order, and resolves', async () => {
    const result = await follow([
      json({stream: 'Step 1/3 : FROM debian:trixie-slim\n'}),
      json({stream: ' ---> 3b25b682ea82\n'}),
      json({id: 'trixie-slim', status: 'Pulling from library/debian'}),
      json({aux: {ID: 'sha256:abc'}}),
      json({stream: 'Successfully built abc\n'}),
    ])
    expect(result).toEqual({
      lines: ['Step 1/3 : FROM debian:trixie-slim', '---> 3b25b682ea82', 'Pulling from library/debian', 'Successfully built abc'],
    })
  })

  it('skips blank lines, whitespace-only texts and lines that are not JSON', async () => {
    const result = await follow(['\n\n', json({stream: '\n'}), 'garbage\n', '{"stream":"ok"}\n', '   \n'])
    expect(result).toEqual({lines: ['ok']})
  })

  it('rejects on a line with errorDetail even when later lines report success (the followProgress trap)', async () => {
    const result = await follow([
      json({stream: 'Step 1/2 : FROM debian:trixie-slim'}),
      json({error: 'pull access denied for debian', errorDetail: {message: 'pull access denied for debian\n'}}),
      json({stream: 'Successfully built 0123456789ab'}),
      json({stream: 'Successfully tagged highway/infra:0.1.0-abc'}),
    ])
    expect(result.error).toBeInstanceOf(Error)
    expect(result.error?.message).toBe('pull access denied for debian')
    expect(result.lines).toEqual(['Step 1/2 : FROM debian:trixie-slim', 'Successfully built 0123456789ab', 'Successfully tagged highway/infra:0.1.0-abc'])
  })

  it('reports the first error when there are several', async () => {
    const result = await follow([
      json({errorDetail: {code: 1, message: "The command '/bin/sh -c apt-get install haproxy' returned a non-zero code: 100"}}),
      json({error: 'second', errorDetail: {message: 'second'}}),
    ])
    expect(result.error?.message).toBe("The command '/bin/sh -c apt-get install haproxy' returned a non-zero code: 100")
  })

  it('uses `error` when errorDetail has no message, and a placeholder when there is neither', async () => {
    expect((await follow([json({error: ' manifest unknown ', errorDetail: {}})])).error?.message).toBe('manifest unknown')
    expect((await follow([json({errorDetail: {}})])).error?.message).toBe('unknown error')
    expect((await follow([json({error: 'only error'})])).error?.message).toBe('only error')
  })

  it('reassembles lines split across chunks, at any point', async () => {
    const text = json({stream: 'Step 1/2 : FROM x'}) + json({status: 'Downloading', progress: '[==>  ]'}) + json({stream: 'done'})
    const expected = ['Step 1/2 : FROM x', 'Downloading', 'done']
    for (let cut = 1; cut < text.length; cut++) {
      expect(await follow([text.slice(0, cut), text.slice(cut)]), `split at ${cut}`).toEqual({lines: expected})
    }
    expect(await follow([...text])).toEqual({lines: expected})
  })

  it('finds an error line split across chunks', async () => {
    const text = json({stream: 'a'}) + json({error: 'no space left on device', errorDetail: {message: 'no space left on device'}}) + json({stream: 'b'})
    const middle = text.indexOf('space')
    const result = await follow([text.slice(0, middle), text.slice(middle)])
    expect(result.error?.message).toBe('no space left on device')
    expect(result.lines).toEqual(['a', 'b'])
  })

  it('handles many lines in one chunk', async () => {
    const chunk = Array.from({length: 50}, (_, index) => json({stream: `line ${index}`})).join('')
    const result = await follow([chunk])
    expect(result.lines).toHaveLength(50)
    expect(result.lines[0]).toBe('line 0')
    expect(result.lines[49]).toBe('line 49')
    expect(result.error).toBeUndefined()
  })

  it('rejects with the stream’s own error', async () => {
    const stream = new PassThrough()
    const done = followStream(stream, () => {})
    const failure = new Error('socket hang up')
    stream.destroy(failure)
    await expect(done).rejects.toBe(failure)
  })

  it('resolves on an empty stream', async () => {
    expect(await follow([])).toEqual({lines: []})
  })

  // What is left in the buffer at 'end' is a line too: a final error must never pass as success.
  it('rejects when the final error line has no trailing newline', async () => {
    const result = await follow([json({stream: 'Step 1/1'}), JSON.stringify({error: 'boom', errorDetail: {message: 'boom'}})])
    expect(result.error?.message).toBe('boom')
  })

  // A multi-byte character split between chunks must not become U+FFFD replacement characters.
  it('keeps a multi-byte character split across chunks', async () => {
    const bytes = Buffer.from(json({stream: 'Schritt 1/2 : FROM debian — ok ✓'}), 'utf8')
    const cut = bytes.indexOf(Buffer.from('—', 'utf8')) + 1
    const result = await follow([bytes.subarray(0, cut), bytes.subarray(cut)])
    expect(result.lines).toEqual(['Schritt 1/2 : FROM debian — ok ✓'])
  })
})

/**
 * An engine's image store in memory: names point at IDs, a pull or a build adds one. A fake, because
 * "the same base name with other contents on another host" needs two engines; the e2e suite builds
 * the real image. A tag's removal is refused while a container uses the image (`usedBy`), as the engine refuses it.
 */
class FakeImages implements ImageClient {
  readonly tags = new Map<string, string>()
  readonly builds: BuildRequest[] = []
  readonly pulls: string[] = []
  pullable = new Map<string, string>()

  async exists(reference: string): Promise<boolean> {
    return this.tags.has(reference)
  }

  async id(reference: string): Promise<string | null> {
    return this.tags.get(reference) ?? null
  }

  /** Labels per image ID, as the build sets them (the Dockerfile's LABEL included). */
  readonly labelsOf = new Map<string, Record<string, string>>()

  async labels(image: string): Promise<Record<string, string> | null> {
    const id = this.tags.get(image) ?? image
    return this.labelsOf.get(id) ?? null
  }

  async list(labels: string[]): Promise<Array<{id: string; tags: string[]; labels: Record<string, string>}>> {
    const ids = new Set(this.tags.values())
    return [...ids]
      .map((id) => ({id, labels: this.labelsOf.get(id) ?? {}, tags: [...this.tags].filter(([, tagId]) => tagId === id).map(([tag]) => tag)}))
      .filter((image) => labels.every((label) => image.labels[label.split('=')[0]] === label.split('=').slice(1).join('=')))
  }

  usedBy: (id: string) => boolean = () => false

  /** An image of `id` under `tags`, with `labels`. */
  add(id: string, tags: string[], labels: Record<string, string> = {}): void {
    for (const tag of tags) this.tags.set(tag, id)
    this.labelsOf.set(id, labels)
  }

  async removeTag(reference: string): Promise<boolean> {
    const id = this.tags.get(reference)
    if (id === undefined) return true
    const lastTag = [...this.tags.values()].filter((tagId) => tagId === id).length === 1
    if (lastTag && this.usedBy(id)) return false
    this.tags.delete(reference)
    return true
  }

  async pull(reference: string): Promise<void> {
    this.pulls.push(reference)
    const id = this.pullable.get(reference)
    if (!id) throw new Error(`pull access denied for ${reference}`)
    this.tags.set(reference, id)
  }

  async build(request: BuildRequest): Promise<void> {
    this.builds.push(request)
    const id = `sha256:built-from-${request.buildArgs.BASE}`
    this.tags.set(request.tag, id)
    this.labelsOf.set(id, {...request.labels, 'io.highway.base-image-id': request.buildArgs.BASE})
  }
}

function buildContext(dockerfile = 'FROM ${BASE}\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'highway-image-'))
  writeFileSync(join(dir, 'Dockerfile'), dockerfile)
  mkdirSync(join(dir, 'lib'))
  writeFileSync(join(dir, 'lib', 'agent.cjs'), 'console.log(1)\n')
  return dir
}

const DEBIAN_A = `sha256:${'a'.repeat(64)}`
const DEBIAN_B = `sha256:${'b'.repeat(64)}`

describe('imageTag', () => {
  it('hashes the base image’s ID and the context into the tag', () => {
    const context = buildContext()
    expect(imageTag(DEBIAN_A, context)).toMatch(/^highway\/infra:\d+\.\d+\.\d+-[0-9a-f]{10}$/)
    expect(imageTag(DEBIAN_A, context)).toBe(imageTag(DEBIAN_A, context))
    expect(imageTag(DEBIAN_B, context)).not.toBe(imageTag(DEBIAN_A, context))
    writeFileSync(join(context, 'lib', 'agent.cjs'), 'console.log(2)\n')
    expect(imageTag(DEBIAN_A, context)).not.toBe(imageTag(DEBIAN_A, buildContext()))
  })

  it('says the build context is missing rather than hash nothing', () => {
    expect(() => imageTag(DEBIAN_A, join(tmpdir(), 'highway-no-such-context'))).toThrow(/run `npm run build`/)
  })
})

describe('ensureInfraImage', () => {
  it('builds FROM the base image’s ID, labelled with its name, under a tag that hashes that ID', async () => {
    const images = new FakeImages()
    images.tags.set('debian:trixie-slim', DEBIAN_A)
    const context = buildContext()
    const tag = await ensureInfraImage(images, 'debian:trixie-slim', () => {}, context)
    expect(tag).toBe(imageTag(DEBIAN_A, context))
    expect(images.builds).toEqual([
      {
        buildArgs: {BASE: DEBIAN_A},
        context,
        files: ['Dockerfile', 'lib/agent.cjs'],
        labels: {'io.highway.base-image': 'debian:trixie-slim', 'io.highway.managed': 'true'},
        tag,
      },
    ])
  })

  it('builds again under another tag when the base name points at other contents (another host, or a re-imported base)', async () => {
    const images = new FakeImages()
    const context = buildContext()
    images.tags.set('debian:trixie-slim', DEBIAN_A)
    const first = await ensureInfraImage(images, 'debian:trixie-slim', () => {}, context)
    expect(await ensureInfraImage(images, 'debian:trixie-slim', () => {}, context)).toBe(first)
    expect(images.builds).toHaveLength(1)
    images.tags.set('debian:trixie-slim', DEBIAN_B)
    const second = await ensureInfraImage(images, 'debian:trixie-slim', () => {}, context)
    expect(second).not.toBe(first)
    expect(images.builds.map((build) => build.buildArgs.BASE)).toEqual([DEBIAN_A, DEBIAN_B])
  })

  it('pulls a missing base image and hashes what was pulled', async () => {
    const images = new FakeImages()
    images.pullable.set('debian:trixie-slim', DEBIAN_B)
    const context = buildContext()
    expect(await ensureInfraImage(images, 'debian:trixie-slim', () => {}, context)).toBe(imageTag(DEBIAN_B, context))
    expect(images.pulls).toEqual(['debian:trixie-slim'])
  })

  it('uses an image copied from another host, built from a base of that name, on an engine without the base', async () => {
    const builder = new FakeImages()
    builder.tags.set('debian:trixie-slim', DEBIAN_A)
    const context = buildContext()
    const tag = await ensureInfraImage(builder, 'debian:trixie-slim', () => {}, context)
    // `docker save | docker load` onto an engine that has no debian:trixie-slim.
    const copy = new FakeImages()
    const id = builder.tags.get(tag)!
    copy.tags.set(tag, id)
    copy.labelsOf.set(id, builder.labelsOf.get(id)!)
    expect(await ensureInfraImage(copy, 'debian:trixie-slim', () => {}, context)).toBe(tag)
    expect(copy.pulls).toEqual([])
    expect(copy.builds).toEqual([])
  })

  it('never takes a copied image whose tag does not match its recorded base and this context', async () => {
    const images = new FakeImages()
    const context = buildContext()
    // Retagged by hand: the tag claims base A, the image records base B.
    images.tags.set(imageTag(DEBIAN_A, context), 'sha256:forged')
    images.labelsOf.set('sha256:forged', {'io.highway.base-image': 'debian:trixie-slim', 'io.highway.base-image-id': DEBIAN_B, 'io.highway.managed': 'true'})
    await rejectedUserError(() => ensureInfraImage(images, 'debian:trixie-slim', () => {}, context))
    expect(images.pulls).toEqual(['debian:trixie-slim'])
  })

  it('says how to make a base image that is missing and cannot be pulled, and builds nothing', async () => {
    const images = new FakeImages()
    const error = await rejectedUserError(() => ensureInfraImage(images, 'debian:trixie-slim', () => {}, buildContext()))
    expect(error.message).toMatch(/^base image debian:trixie-slim is not on this engine and could not be pulled \(pull access denied/)
    expect(error.suggestion).toContain('debootstrap')
    // A slim base: what debootstrap leaves of documentation and apt's cache would be in highway's image too.
    expect(error.suggestion).toMatch(/rm -rf DIR\/usr\/share\/doc\/\* .*DIR\/var\/lib\/apt\/lists\/\* && tar/)
    expect(images.builds).toEqual([])
  })
})

describe('removeUnusedImages', () => {
  const OLD = 'highway/infra:0.1.0-0000000001'
  const CURRENT = 'highway/infra:0.1.0-0000000002'
  const managed = {'io.highway.managed': 'true'}

  /** FakeDocker's containers over an image store with tags and IDs. */
  function engine() {
    const docker = new FakeDocker()
    const images = new FakeImages()
    images.usedBy = (id) => [...docker.state.values()].some((container) => (images.tags.get(container.image) ?? container.image) === id)
    images.add('sha256:old', [OLD], managed)
    images.add('sha256:current', [CURRENT], managed)
    images.add('sha256:debian', ['debian:trixie-slim'])
    return {containers: docker.containers, images}
  }

  it('removes highway’s images no container uses, keeping the current one', async () => {
    const docker = engine()
    await docker.containers.create({Image: CURRENT, Labels: managed, name: 'highway-proxy'})
    expect(await removeUnusedImages(docker, CURRENT)).toEqual([OLD])
    expect([...docker.images.tags.keys()].sort()).toEqual(['debian:trixie-slim', CURRENT])
  })

  it('removes the current one too when told to keep none, unless a container still uses it', async () => {
    expect(await removeUnusedImages(engine(), null)).toEqual([OLD, CURRENT])
    const used = engine()
    await used.containers.create({Image: CURRENT, Labels: managed, name: 'highway-proxy'})
    expect(await removeUnusedImages(used, null)).toEqual([OLD])
  })

  it('keeps an old image any container uses, by tag or by ID, running or not, highway’s or a user’s', async () => {
    const docker = engine()
    await docker.containers.create({Image: OLD, name: 'someone-s'})
    expect(await removeUnusedImages(docker, CURRENT)).toEqual([])
    const byId = engine()
    await byId.containers.create({Image: 'sha256:old', name: 'by-id'})
    expect(await removeUnusedImages(byId, CURRENT)).toEqual([])
  })

  it('never touches a user’s image that carries the label in another repository, or untagged', async () => {
    const docker = engine()
    docker.images.add('sha256:users', ['myteam/tools:1'], managed)
    docker.images.add('sha256:both', ['highway/infra:0.1.0-0000000003', 'myteam/infra:copy'], managed)
    docker.images.add('sha256:unlabelled', ['highway/infra:handmade'])
    docker.images.labelsOf.set('sha256:dangling', managed)
    expect(await removeUnusedImages(docker, CURRENT)).toEqual([OLD])
    expect(docker.images.tags.has('myteam/tools:1')).toBe(true)
    expect(docker.images.tags.has('highway/infra:0.1.0-0000000003')).toBe(true)
    expect(docker.images.tags.has('highway/infra:handmade')).toBe(true)
  })

  it('removes every tag of an old image, and leaves one the engine refuses (a container created meanwhile)', async () => {
    const docker = engine()
    docker.images.add('sha256:twice', ['highway/infra:0.1.0-a', 'highway/infra:0.1.0-b'], managed)
    const refused = docker.images.removeTag.bind(docker.images)
    docker.images.removeTag = async (reference) => (reference === OLD ? false : refused(reference))
    expect(await removeUnusedImages(docker, CURRENT)).toEqual(['highway/infra:0.1.0-a', 'highway/infra:0.1.0-b'])
    expect(docker.images.tags.has(OLD)).toBe(true)
  })

  it('says whether a summary is highway’s own image', () => {
    expect(isHighwayImage({id: 'x', labels: managed, tags: [CURRENT]})).toBe(true)
    expect(isHighwayImage({id: 'x', labels: {}, tags: [CURRENT]})).toBe(false)
    expect(isHighwayImage({id: 'x', labels: managed, tags: []})).toBe(false)
    expect(isHighwayImage({id: 'x', labels: managed, tags: ['highway/infrastructure:1']})).toBe(false)
  })
})
