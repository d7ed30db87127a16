/**
 * Docker labels are how highway finds its own containers again (never by name alone) and how a
 * container declares itself a service, whether started by `highway run`, `docker run --label` or compose.
 */
export const LABEL_PREFIX = 'io.highway'

/** Set on highway's infrastructure containers and volumes. */
export const MANAGED = `${LABEL_PREFIX}.managed`
/** Which infrastructure component: one of COMPONENTS. */
export const COMPONENT = `${LABEL_PREFIX}.component`
/** Hash of the container's create options: a changed spec means recreate. */
export const SPEC = `${LABEL_PREFIX}.spec`

/** Marks an application container as a service and carries its name. */
export const SERVICE = `${LABEL_PREFIX}.service`
/** Comma-separated container ports the service publishes, e.g. "9090/tcp"; the first one gets HTTP. */
export const SERVICE_PORTS = `${LABEL_PREFIX}.ports`
/**
 * Set to the same name as SERVICE: the container joins that name's traffic on purpose, beside its
 * owner, instead of being refused as a conflict (`highway run --replica-of NAME` sets both).
 */
export const REPLICA_OF = `${LABEL_PREFIX}.replica-of`

/**
 * The labels given when the container was created. Docker merges the image's labels into the
 * container's, so one whose value equals the image's is taken for the image's: labels baked into
 * an image must never make a container a service or one of highway's own. null (the image cannot
 * be read) trusts nothing of highway's.
 */
export function labelsSetAtCreate(labels: Record<string, string> | null | undefined, imageLabels: Record<string, string> | null): Record<string, string> {
  const own: Record<string, string> = {}
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (imageLabels === null ? key.startsWith(`${LABEL_PREFIX}.`) : imageLabels[key] === value) continue
    own[key] = value
  }
  return own
}

export const COMPONENTS = ['etcd', 'proxy', 'dns', 'tcp', 'agent'] as const
export type Component = (typeof COMPONENTS)[number]
