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

export const COMPONENTS = ['etcd', 'proxy', 'dns', 'agent'] as const
export type Component = (typeof COMPONENTS)[number]
