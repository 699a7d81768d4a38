/**
 * The resource types the test API server serves: the built-in ones the daemon, its Jobs and
 * kubectl touch, and custom resources registered from CustomResourceDefinitions at run time.
 * Names, scopes, short names and kinds are Kubernetes' own (as `kubectl api-resources` lists them).
 */

/** A printer column as a CRD declares it (`additionalPrinterColumns[]`). */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

/** One served resource: a plural under one group-version. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Serves `<plural>/status` (PUT/PATCH there change `.status` only). */
  statusSubresource: boolean;
  /** Extra subresources with GET only, e.g. pods/log. */
  getSubresources: string[];
  /** Field selector labels beyond metadata.name/metadata.namespace. */
  fieldLabels: string[];
  /** Verbs when not the usual eight (access reviews only take `create`). */
  verbs?: string[];
  /** Set for custom resources: the CRD version's schema and columns. */
  custom?: {
    crdName: string;
    schema: unknown;
    printerColumns: PrinterColumn[];
  };
}

export function apiVersionOf(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** Splits `batch/v1` into `{group: 'batch', version: 'v1'}` and `v1` into `{group: '', ...}`. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function builtIn(
  group: string,
  version: string,
  plural: string,
  kind: string,
  options: Partial<Pick<ResourceType, 'namespaced' | 'shortNames' | 'statusSubresource' | 'getSubresources' | 'fieldLabels' | 'categories' | 'verbs'>> = {},
): ResourceType {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: options.namespaced ?? true,
    shortNames: options.shortNames ?? [],
    categories: options.categories ?? [],
    statusSubresource: options.statusSubresource ?? false,
    getSubresources: options.getSubresources ?? [],
    fieldLabels: options.fieldLabels ?? [],
    ...(options.verbs ? { verbs: options.verbs } : {}),
  };
}

/** The built-in resources served, in discovery order. */
export const BUILT_IN_RESOURCES: readonly ResourceType[] = [
  builtIn('', 'v1', 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'], statusSubresource: true, fieldLabels: ['status.phase'] }),
  builtIn('', 'v1', 'pods', 'Pod', {
    shortNames: ['po'],
    statusSubresource: true,
    getSubresources: ['log'],
    categories: ['all'],
    fieldLabels: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  }),
  builtIn('', 'v1', 'secrets', 'Secret', { fieldLabels: ['type'] }),
  builtIn('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
  builtIn('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', { shortNames: ['pvc'], statusSubresource: true }),
  builtIn('', 'v1', 'events', 'Event', {
    shortNames: ['ev'],
    fieldLabels: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  }),
  builtIn('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  builtIn('', 'v1', 'services', 'Service', { shortNames: ['svc'], statusSubresource: true, categories: ['all'] }),
  builtIn('batch', 'v1', 'jobs', 'Job', { statusSubresource: true, categories: ['all'], fieldLabels: ['status.successful'] }),
  builtIn('batch', 'v1', 'cronjobs', 'CronJob', { shortNames: ['cj'], statusSubresource: true, categories: ['all'] }),
  builtIn('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  builtIn('events.k8s.io', 'v1', 'events', 'Event', { shortNames: ['ev'] }),
  builtIn('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  builtIn('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  builtIn('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { namespaced: false }),
  builtIn('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false }),
  builtIn('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', { namespaced: false, verbs: ['create'] }),
  builtIn('authorization.k8s.io', 'v1', 'subjectaccessreviews', 'SubjectAccessReview', { namespaced: false, verbs: ['create'] }),
  builtIn('apps', 'v1', 'deployments', 'Deployment', { shortNames: ['deploy'], statusSubresource: true, categories: ['all'] }),
  builtIn('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false,
    shortNames: ['crd', 'crds'],
    statusSubresource: true,
  }),
];

interface CrdVersion {
  name?: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: unknown };
  subresources?: { status?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

/** The shape of a CRD this server reads (apiextensions.k8s.io/v1). */
export interface CrdObject {
  metadata?: { name?: string };
  spec?: {
    group?: string;
    scope?: string;
    names?: { plural?: string; singular?: string; kind?: string; listKind?: string; shortNames?: string[]; categories?: string[] };
    versions?: CrdVersion[];
  };
}

/** One ResourceType per served version of a CRD (as an Established CRD serves them). */
export function resourcesFromCrd(crd: CrdObject): ResourceType[] {
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  const kind = names.kind ?? '';
  const plural = names.plural ?? '';
  return (spec.versions ?? [])
    .filter((v) => v.served !== false && v.name)
    .map((v) => ({
      group: spec.group ?? '',
      version: v.name ?? '',
      plural,
      singular: names.singular ?? kind.toLowerCase(),
      kind,
      listKind: names.listKind ?? `${kind}List`,
      namespaced: spec.scope !== 'Cluster',
      shortNames: names.shortNames ?? [],
      categories: names.categories ?? [],
      statusSubresource: v.subresources?.status !== undefined,
      getSubresources: [],
      fieldLabels: (v.selectableFields ?? []).map((f) => f.jsonPath.replace(/^\./, '')),
      custom: { crdName: crd.metadata?.name ?? '', schema: v.schema?.openAPIV3Schema, printerColumns: v.additionalPrinterColumns ?? [] },
    }));
}
