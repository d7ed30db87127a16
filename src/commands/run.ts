import {HighwayCommand} from '../cli/base-command.js'
import {runService} from '../service/run.js'

export default class Run extends HighwayCommand {
  static summary = 'Run a container like `docker run`, reachable at http://NAME.<domain>/'
  static description =
    'Takes every `docker run` flag, unchanged and in your order, and adds --dns <bridge-ip> and, for each bare ' +
    '`-p PORT`, a publish on the bridge IP. With --name and -p the container is registered and routed by name. ' +
    "highway takes its own flags out of the argv: --replica-of NAME shares NAME's traffic (or owns NAME when nothing runs under it); " +
    '--replace (with -d and --name) swaps the container of that name for the new one without a failed request, once the new one answers ' +
    '(--replace-timeout SECONDS, default 60; if it never does, it is removed and the old one keeps serving). ' +
    'Everything after IMAGE belongs to the container. With -d, returns once the route is live.'

  static examples = [
    '<%= config.bin %> run -d --name api -p 9090 myimage',
    '<%= config.bin %> run -d --name api-2 --replica-of api -p 9090 myimage',
    '<%= config.bin %> run -d --name api --replace -p 9090 myimage:2',
    '<%= config.bin %> run --rm -it --name web -p 8080 -e MODE=dev myimage npm start',
    '<%= config.bin %> run --rm busybox wget -qO- http://api.local/',
  ]

  static strict = false
  // Docker's flags are parsed by highway itself (src/docker/run-args.ts): oclif would reorder them.
  static '--' = false
  static usage = 'run [DOCKER RUN FLAGS] IMAGE [COMMAND] [ARG...]'

  async run(): Promise<void> {
    const code = await runService(this.argv, {env: process.env, stderr: (line) => this.logToStderr(line)})
    if (code !== 0) this.exit(code)
  }
}
