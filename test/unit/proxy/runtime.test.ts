import {describe, expect, it} from 'vitest'
import {renderProxyConfig, type ProxyState} from '../../../src/proxy/haproxy.js'
import {planRuntime, type LiveProxy} from '../../../src/proxy/runtime.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

const OPTIONS = 'check inter 30s downinter 100ms fastinter 100ms fall 2 rise 1 observe layer4 error-limit 1 on-error fastinter'
const web = makeRecord()
const server = `route0/c${IDS.web1.slice(0, 12)}`
const state = (records = [web], previous?: ProxyState) => renderProxyConfig({domain: 'local', records}, previous).state

describe('planRuntime', () => {
  it('changes nothing between equal states', () => {
    const live: LiveProxy = {leaving: new Map(), state: state()}
    expect(planRuntime(live, state([web], live.state))).toEqual({commands: [], deletions: [], next: {leaving: new Map(), state: state()}})
  })

  it('revives a server still leaving (deletion refused) when its container runs again, at its new address, instead of adding it twice', () => {
    const live: LiveProxy = {leaving: new Map([[server, {address: BRIDGE_IP, port: 49_153}]]), state: state([{...web, state: 'stopped'}])}
    const moved = {...web, ports: [{...web.ports[0], port: 50_000}]}
    const plan = planRuntime(live, state([moved], live.state))
    expect(plan.commands).toEqual([`set server ${server} addr ${BRIDGE_IP} port 50000`, `set server ${server} state ready`])
    expect(plan.deletions).toEqual([])
  })

  it('keeps trying to delete what is still leaving, and adds a server it never had with its checks on', () => {
    const other = `route0/c${IDS.web2.slice(0, 12)}`
    const live: LiveProxy = {leaving: new Map([[other, {address: BRIDGE_IP, port: 1234}]]), state: state([{...web, state: 'stopped'}])}
    const plan = planRuntime(live, state([web], live.state))
    expect(plan.commands).toEqual([`add server ${server} ${BRIDGE_IP}:49153 ${OPTIONS}`, `enable health ${server}`, `enable server ${server}`])
    expect(plan.deletions).toEqual([other])
  })

  it('refuses a change of the pool of backends: only a reload can make one', () => {
    const live: LiveProxy = {leaving: new Map(), state: state()}
    expect(() => planRuntime(live, {...state(), backends: live.state.backends * 2})).toThrow('the pool of route backends changed: that takes a reload')
  })
})
