// The targets the figures are held to, in one place. They come from issue 5 ("Benchmarks: how fast
// highway is, against the baselines a user would compare it with"); the scripts judge `met` with
// them and bench/report.mjs prints them, so a target is never restated by hand.
export const TARGETS = {
  /** Figure 1: `highway run -d` median at most this many times plain `docker run -d`'s. */
  runD: {maxRatio: 1.5, text: '<= 1.5x'},
  /** Figure 2: p95 from Docker's event to the proxy's new answer, start and stop alike. */
  propagation: {p95Ms: 100, text: 'p95 < 100 ms'},
  /** Figure 3: latency the proxy adds over reaching the same backend directly. */
  proxyOverhead: {p50Ms: 0.1, p99Ms: 0.3, text: '+0.1 / +0.3 ms'},
  /** Figure 4: failed requests while routes come and go. */
  reload: {failed: 0, text: '0'},
  /** Figure 8 (issue 10): every long-lived connection open for the whole churn, every message answered. */
  churn: {text: 'all open, 0 unanswered'},
  /** Figure 10 (issue 17): idle CPU of highway's containers together, % of one core, and their RSS. */
  footprint: {idleCpuPercent: 0.5, rssMiB: 100, text: '<= 0.5% of a core idle, < 100 MiB'},
  /** Figure 12 (issue 11): a dead host's routes leave the other proxies within its lease TTL, every round. */
  deadHost: {text: "every round within B's lease TTL"},
}
export const TARGETS_SOURCE = 'issue 5 (figures 8 and 9: issue 10; figure 10: issue 17; figure 12: issue 11)'
