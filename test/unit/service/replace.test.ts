import {describe, expect, it} from 'vitest'
import {REPLICA_OF, SERVICE} from '../../../src/core/labels.js'
import type {ContainerSummary} from '../../../src/docker/types.js'
import {temporaries} from '../../../src/service/replace.js'

function container(name: string, labels: Record<string, string>): ContainerSummary {
  return {Id: name, Labels: labels, Names: [`/${name}`], State: 'running'} as unknown as ContainerSummary
}

describe('temporaries: what an interrupted --replace of a name left behind', () => {
  const replica = {[SERVICE]: 'api', [REPLICA_OF]: 'api'}

  it('is a replica of the name under the temporary name --replace gives it', () => {
    const found = temporaries([container('api-next-0a1b2c', replica), container('api', replica)], 'api')
    expect(found.map((c) => c.Id)).toEqual(['api-next-0a1b2c'])
  })

  it('never takes a container that merely looks like one: not a replica of the name, another name, or a name of the user’s', () => {
    const others = [
      container('api-next-0a1b2c', {[SERVICE]: 'api'}),
      container('api-next-0a1b2c', {[SERVICE]: 'web', [REPLICA_OF]: 'web'}),
      container('web-next-0a1b2c', replica),
      container('api-next-version', replica),
      container('api-next-0a1b2c-old', replica),
      container('my-api-next-0a1b2c', replica),
    ]
    expect(temporaries(others, 'api')).toEqual([])
  })
})
