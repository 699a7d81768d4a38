/**
 * `meta.k8s.io/v1` Table answers for `kubectl get` (Accept `as=Table`): the columns the real server
 * prints. Custom resources get Name plus the CRD version's `additionalPrinterColumns` (JSONPath
 * evaluated; `date` columns shown as an age, as the server converts them) or Name and Age when
 * the CRD declares none; built-in kinds get Name, a few kind-specific columns, and Age.
 */
import type { ResourceType } from './resources.js';
import { metadataOf, type JsonObject } from './store.js';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** Kubernetes' short human durations ("45s", "3m20s", "5h", "2d3h", "400d"), from apimachinery's rules. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
}

// ---------------------------------------------------------------- JSONPath (the CRD subset)

type Step = { field: string } | { index: number } | { filter: { path: string[]; value: string } } | { all: true };

function parseJsonPath(path: string): Step[] {
  const text = path.replace(/^\{/, '').replace(/\}$/, '').replace(/^\$/, '');
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([^=!]+?)\s*==\s*["']([^"']*)["']\)\]|\[\*\]|\['([^']+)'\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ filter: { path: m[3].split('.'), value: m[4] ?? '' } });
    else if (m[5] !== undefined) steps.push({ field: m[5] });
    else steps.push({ all: true });
  }
  return steps;
}

/** Evaluates the simple JSONPaths CRD printer columns use; the values found, in order. */
export function evaluateJsonPath(object: unknown, path: string): unknown[] {
  let values: unknown[] = [object];
  for (const step of parseJsonPath(path)) {
    const next: unknown[] = [];
    for (const v of values) {
      if ('field' in step) {
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && step.field in v) next.push((v as JsonObject)[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...(v as unknown[]));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let got: unknown = item;
          for (const p of step.filter.path) got = got !== null && typeof got === 'object' ? (got as JsonObject)[p] : undefined;
          if ((typeof got === 'string' || typeof got === 'number' || typeof got === 'boolean') && String(got) === step.filter.value) next.push(item);
        }
      }
    }
    values = next;
  }
  return values;
}

/**
 * A printer-column cell as the apiextensions server's table convertor makes it: `date` columns
 * become ages ("5m"), typed columns keep values of their type only (else empty), string columns
 * print the value.
 */
function cell(type: string, value: unknown, now: number): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'date':
      return typeof value === 'string' ? age(value, now) : null;
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

const NAME_COLUMN: TableColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 };
const AGE_COLUMN: TableColumn = { name: 'Age', type: 'date', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 };

interface ColumnSpec {
  column: TableColumn;
  value(object: JsonObject, now: number): unknown;
}

function column(name: string, type: string, value: (object: JsonObject, now: number) => unknown, priority = 0): ColumnSpec {
  return { column: { name, type, format: '', description: name, priority }, value };
}

function get(object: unknown, path: string): unknown {
  return evaluateJsonPath(object, path)[0];
}

function jobStatus(job: JsonObject): string {
  const conditions = (get(job, '.status.conditions') as { type?: string; status?: string }[] | undefined) ?? [];
  const has = (type: string): boolean => conditions.some((c) => c.type === type && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return get(job, '.metadata.deletionTimestamp') ? 'Terminating' : 'Running';
}

/** A pod's STATUS as kubectl prints it: Init:<reason> or Init:i/n while init containers have not all completed, else the phase. */
function podStatus(pod: JsonObject): string {
  const phase = (get(pod, '.status.phase') as string | undefined) ?? 'Pending';
  const inits = (get(pod, '.status.initContainerStatuses') as Array<{ state?: { terminated?: { exitCode?: number; reason?: string }; waiting?: { reason?: string } } }> | undefined) ?? [];
  for (const [i, init] of inits.entries()) {
    const t = init.state?.terminated;
    if (t && t.exitCode === 0) continue;
    if (t) return `Init:${t.reason ?? `ExitCode:${t.exitCode ?? '?'}`}`;
    const waiting = init.state?.waiting?.reason;
    return waiting && waiting !== 'PodInitializing' ? `Init:${waiting}` : `Init:${i}/${inits.length}`;
  }
  return phase;
}

function builtInColumns(type: ResourceType): ColumnSpec[] {
  const ageColumn = column('Age', 'date', (o, now) => age(metadataOf(o).creationTimestamp, now));
  switch (`${type.group}/${type.kind}`) {
    case '/Pod':
      return [
        column('Ready', 'string', (o) => {
          const statuses = (get(o, '.status.containerStatuses') as { ready?: boolean }[] | undefined) ?? [];
          const containers = (get(o, '.spec.containers') as unknown[] | undefined) ?? [];
          return `${statuses.filter((s) => s.ready).length}/${containers.length}`;
        }),
        column('Status', 'string', (o) => (metadataOf(o).deletionTimestamp ? 'Terminating' : podStatus(o))),
        column('Restarts', 'string', (o) => String(((get(o, '.status.containerStatuses') as { restartCount?: number }[] | undefined) ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0))),
        ageColumn,
      ];
    case '/Namespace':
      return [column('Status', 'string', (o) => (get(o, '.status.phase')) ?? 'Active'), ageColumn];
    case 'batch/Job':
      return [
        column('Status', 'string', jobStatus),
        column('Completions', 'string', (o) => `${Number(get(o, '.status.succeeded') ?? 0)}/${Number(get(o, '.spec.completions') ?? 1)}`),
        column('Duration', 'string', (o, now) => {
          const start = get(o, '.status.startTime');
          if (typeof start !== 'string') return '';
          const end = get(o, '.status.completionTime');
          return humanDuration((typeof end === 'string' ? Date.parse(end) : now) - Date.parse(start));
        }),
        ageColumn,
      ];
    case 'batch/CronJob':
      return [
        column('Schedule', 'string', (o) => get(o, '.spec.schedule') ?? ''),
        column('Timezone', 'string', (o) => get(o, '.spec.timeZone') ?? '<none>'),
        column('Suspend', 'boolean', (o) => get(o, '.spec.suspend') ?? false),
        column('Active', 'integer', (o) => ((get(o, '.status.active') as unknown[] | undefined) ?? []).length),
        column('Last Schedule', 'string', (o, now) => {
          const last = get(o, '.status.lastScheduleTime');
          return typeof last === 'string' ? age(last, now) : '<none>';
        }),
        ageColumn,
      ];
    case '/Secret':
      return [column('Type', 'string', (o) => get(o, '.type') ?? 'Opaque'), column('Data', 'integer', (o) => Object.keys((get(o, '.data') as object | undefined) ?? {}).length), ageColumn];
    case '/ConfigMap':
      return [column('Data', 'integer', (o) => Object.keys((get(o, '.data') as object | undefined) ?? {}).length + Object.keys((get(o, '.binaryData') as object | undefined) ?? {}).length), ageColumn];
    case 'coordination.k8s.io/Lease':
      return [column('Holder', 'string', (o) => get(o, '.spec.holderIdentity') ?? ''), ageColumn];
    case '/PersistentVolumeClaim':
      return [column('Status', 'string', (o) => get(o, '.status.phase') ?? 'Pending'), ageColumn];
    default:
      return [ageColumn];
  }
}

function columnsFor(type: ResourceType): ColumnSpec[] {
  const name = { column: NAME_COLUMN, value: (o: JsonObject) => metadataOf(o).name ?? '' };
  if (!type.custom) return [name, ...builtInColumns(type)];
  const printer = type.custom.printerColumns;
  if (printer.length === 0) return [name, { column: AGE_COLUMN, value: (o, now) => age(metadataOf(o).creationTimestamp, now) }];
  return [
    name,
    ...printer.map((p) => ({
      column: { name: p.name, type: p.type, format: p.format ?? '', description: p.description ?? '', priority: p.priority ?? 0 },
      value: (o: JsonObject, now: number) => cell(p.type, evaluateJsonPath(o, p.jsonPath)[0], now),
    })),
  ];
}

/**
 * A Table of the objects. `includeObject` is the request's (`None`, `Object`, default
 * `Metadata`: the row carries a PartialObjectMetadata as the real server sends).
 */
export function toTable(type: ResourceType, objects: JsonObject[], options: { resourceVersion: string; includeObject?: string | null; now?: number }): JsonObject {
  const now = options.now ?? Date.now();
  const columns = columnsFor(type);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: options.resourceVersion },
    columnDefinitions: columns.map((c) => c.column),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.value(o, now)),
      object:
        options.includeObject === 'None'
          ? undefined
          : options.includeObject === 'Object'
            ? o
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
