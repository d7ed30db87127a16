// bench/lib/load.mjs in its own process, so the orchestrating script's work (spawning highway and
// docker) never stalls the load generator's event loop and never shows up as request latency.
//
//   node bench/lib/load-cli.mjs '{"address":"172.17.0.1","port":80,"host":"x.local","rate":500,"durationMs":600000}' OUT.json
//
// Runs until durationMs, or until a line "stop" arrives on stdin; writes one JSON result to the file
// named by the second argument.
import {writeFileSync} from 'node:fs'
import {runLoad} from './load.mjs'

const options = JSON.parse(process.argv[2])
const outFile = process.argv[3]
let stop = false
process.stdin.setEncoding('utf8')
process.stdin.on('data', (text) => {
  if (text.includes('stop')) stop = true
})
const result = await runLoad({...options, until: () => stop})
writeFileSync(outFile, JSON.stringify(result))
process.exit(0)
