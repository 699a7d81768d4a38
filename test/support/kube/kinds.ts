/**
 * What the kube-apiserver does per kind on a write, beyond the generic rules: defaults set on
 * create (Job: K8S-TESTING.md §5; Namespace; Pod) and the validation rules kubernetes-models'
 * schemas cannot express (CronJob time zones, events.k8s.io required fields, core Event
 * namespaces, Job immutability and restart policy, object names).
 */
import { isDeepStrictEqual } from 'node:util';
import { evaluateJsonPath } from './table.js';
import type { StatusCause } from './status.js';
import { metadataOf, type JsonObject } from './store.js';

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function objectAt(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isObject(value)) return value;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

function defaultJob(object: JsonObject): void {
  const metadata = metadataOf(object);
  const spec = objectAt(object, 'spec');
  spec.backoffLimit ??= 6;
  spec.completions ??= 1;
  spec.parallelism ??= 1;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= 'TerminatingOrFailed';
  if (spec.manualSelector === true || !metadata.uid || !metadata.name) return;
  const generated = {
    'batch.kubernetes.io/controller-uid': metadata.uid,
    'batch.kubernetes.io/job-name': metadata.name,
    'controller-uid': metadata.uid,
    'job-name': metadata.name,
  };
  spec.selector ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': metadata.uid } };
  const templateMetadata = objectAt(objectAt(spec, 'template'), 'metadata');
  templateMetadata.labels = { ...(templateMetadata.labels as Record<string, string> | undefined), ...generated };
  metadata.labels = { ...generated, ...metadata.labels };
}

function defaultCronJob(object: JsonObject): void {
  const spec = objectAt(object, 'spec');
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
}

function defaultNamespace(object: JsonObject): void {
  const metadata = metadataOf(object);
  objectAt(object, 'spec').finalizers ??= ['kubernetes'];
  objectAt(object, 'status').phase ??= 'Active';
  if (metadata.name) metadata.labels = { ...metadata.labels, 'kubernetes.io/metadata.name': metadata.name };
}

function defaultPod(object: JsonObject): void {
  objectAt(object, 'status').phase ??= 'Pending';
  const spec = objectAt(object, 'spec');
  spec.restartPolicy ??= 'Always';
  spec.serviceAccountName ??= 'default';
}

function defaultSecret(object: JsonObject): void {
  if (object.type === undefined || object.type === '') object.type = 'Opaque';
}

const DEFAULTERS: Record<string, (object: JsonObject) => void> = {
  '/Secret': defaultSecret,
  'batch/Job': defaultJob,
  'batch/CronJob': defaultCronJob,
  '/Namespace': defaultNamespace,
  '/Pod': defaultPod,
};

/** Defaults the server sets on create (and keeps on update) for a kind. Mutates `object`. */
export function applyDefaults(group: string, kind: string, object: JsonObject): void {
  DEFAULTERS[`${group}/${kind}`]?.(object);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The object-name rule of a kind: DNS labels for namespaces, DNS subdomains for the rest. */
export function nameCauses(kind: string, name: string): StatusCause[] {
  const label = kind === 'Namespace';
  const max = label ? 63 : 253;
  const ok = (label ? DNS_LABEL : DNS_SUBDOMAIN).test(name) && name.length <= max;
  if (ok) return [];
  const what = label
    ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`
    : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
  return [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: ${what}` }];
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return !/^[+-]|^(Local)$/.test(zone);
  } catch {
    return false;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

type AddCause = (reason: StatusCause['reason'], field: string, message: string) => void;

function cronJobCauses(object: JsonObject, add: AddCause): void {
  const schedule = str(evaluateJsonPath(object, '.spec.schedule')[0]) ?? '';
  if (/(^|\s)(CRON_)?TZ=/.test(schedule)) {
    add('FieldValueInvalid', 'spec.schedule', `Invalid value: ${JSON.stringify(schedule)}: cannot use TZ or CRON_TZ in schedule, use timeZone field instead`);
  }
  const timeZone = evaluateJsonPath(object, '.spec.timeZone')[0];
  if (typeof timeZone === 'string' && !validTimeZone(timeZone)) {
    add('FieldValueInvalid', 'spec.timeZone', `Invalid value: ${JSON.stringify(timeZone)}: unknown time zone ${timeZone}`);
  }
}

function jobCauses(object: JsonObject, previous: JsonObject | undefined, add: AddCause): void {
  const restartPolicy = evaluateJsonPath(object, '.spec.template.spec.restartPolicy')[0];
  if (restartPolicy === undefined) add('FieldValueRequired', 'spec.template.spec.restartPolicy', 'Required value: valid values: "OnFailure", "Never"');
  else if (restartPolicy !== 'Never' && restartPolicy !== 'OnFailure') {
    add('FieldValueNotSupported', 'spec.template.spec.restartPolicy', `Unsupported value: ${JSON.stringify(restartPolicy)}: supported values: "OnFailure", "Never"`);
  }
  if (!previous) return;
  const status = isObject(object.status) ? object.status : {};
  const before = isObject(previous.status) ? previous.status : {};
  if (!isDeepStrictEqual(status, before)) jobStatusCauses(status, before, add);
  for (const field of ['completions', 'selector', 'template', 'completionMode']) {
    const before = evaluateJsonPath(previous, `.spec.${field}`)[0];
    const after = evaluateJsonPath(object, `.spec.${field}`)[0];
    if (!isDeepStrictEqual(before, after)) add('FieldValueInvalid', `spec.${field}`, `Invalid value: ${JSON.stringify(after)}: field is immutable`);
  }
}

interface JobCondition {
  type?: string;
  status?: string;
}

function conditionTrue(status: JsonObject, type: string): boolean {
  const conditions = Array.isArray(status.conditions) ? (status.conditions as JobCondition[]) : [];
  return conditions.some((c) => c.type === type && c.status === 'True');
}

function count(status: JsonObject, field: string): number {
  return typeof status[field] === 'number' ? status[field] : 0;
}

/**
 * The rules the 1.32 server checks on a Job's status (KEP-4368 and the JobManagedBy /
 * JobSuccessPolicy validation, K8S-TESTING.md §5): terminal conditions need their preceding
 * condition, exclude each other, need no active/terminating/uncounted pods and a startTime, stay
 * once set; completionTime only with Complete, not before startTime, immutable; ready ≤ active.
 */
function jobStatusCauses(status: JsonObject, previous: JsonObject, add: AddCause): void {
  const invalidStatus = (field: string, message: string): void => add('FieldValueInvalid', field, `Invalid value: ${message}`);
  const complete = conditionTrue(status, 'Complete');
  const failed = conditionTrue(status, 'Failed');
  if (complete && !conditionTrue(status, 'SuccessCriteriaMet')) invalidStatus('status.conditions', 'cannot set Complete=True condition without the SuccessCriteriaMet=true condition');
  if (failed && !conditionTrue(status, 'FailureTarget')) invalidStatus('status.conditions', 'cannot set Failed=True condition without the FailureTarget=true condition');
  if (complete && (failed || conditionTrue(status, 'FailureTarget'))) invalidStatus('status.conditions', 'cannot set Complete=True together with Failed=True or FailureTarget=True');
  for (const type of ['Complete', 'Failed']) {
    if (conditionTrue(previous, type) && !conditionTrue(status, type)) invalidStatus('status.conditions', `cannot remove or flip the ${type}=True condition of a finished job`);
  }
  if (complete || failed) finishedJobCauses(status, invalidStatus, add);
  completionTimeCauses(status, previous, complete, invalidStatus);
  if (count(status, 'ready') > count(status, 'active')) invalidStatus('status.ready', `${count(status, 'ready')}: must be less than or equal to active: ${count(status, 'active')}`);
}

/** A finished Job (Complete or Failed): no pods left to count, and a startTime. */
function finishedJobCauses(status: JsonObject, invalidStatus: (field: string, message: string) => void, add: AddCause): void {
  if (count(status, 'active') > 0) invalidStatus('status.active', `${count(status, 'active')}: must be 0 for a finished job`);
  if (count(status, 'terminating') > 0) invalidStatus('status.terminating', `${count(status, 'terminating')}: must be 0 for a finished job`);
  if (status.startTime === undefined) add('FieldValueRequired', 'status.startTime', 'Required value: startTime is required for a finished job');
  const uncounted = isObject(status.uncountedTerminatedPods) ? status.uncountedTerminatedPods : {};
  const uncountedPods = [...(Array.isArray(uncounted.succeeded) ? (uncounted.succeeded as unknown[]) : []), ...(Array.isArray(uncounted.failed) ? (uncounted.failed as unknown[]) : [])];
  if (uncountedPods.length > 0) invalidStatus('status.uncountedTerminatedPods', 'must be empty for a finished job');
}

/** completionTime: only with Complete=True, not before startTime, immutable once set. */
function completionTimeCauses(status: JsonObject, previous: JsonObject, complete: boolean, invalidStatus: (field: string, message: string) => void): void {
  if (status.completionTime !== undefined) {
    if (!complete) invalidStatus('status.completionTime', 'completionTime can only be set when the job has the Complete=True condition');
    const start = typeof status.startTime === 'string' ? Date.parse(status.startTime) : Number.NaN;
    const end = typeof status.completionTime === 'string' ? Date.parse(status.completionTime) : Number.NaN;
    if (end < start) invalidStatus('status.completionTime', 'completionTime cannot be set before startTime');
    if (previous.completionTime !== undefined && previous.completionTime !== status.completionTime) invalidStatus('status.completionTime', 'field is immutable');
  }
}

function eventsV1Causes(object: JsonObject, add: AddCause): void {
  for (const field of ['eventTime', 'reportingController', 'reportingInstance', 'action', 'reason']) {
    if (object[field] === undefined || object[field] === '') add('FieldValueRequired', field, 'Required value');
  }
  if (object.type !== 'Normal' && object.type !== 'Warning') {
    add('FieldValueNotSupported', 'type', `Unsupported value: ${JSON.stringify(object.type ?? '')}: supported values: "Normal", "Warning"`);
  }
}

function coreEventCauses(object: JsonObject, add: AddCause): void {
  const namespace = str(evaluateJsonPath(object, '.involvedObject.namespace')[0]) ?? '';
  if (namespace !== (metadataOf(object).namespace ?? '')) {
    add('FieldValueInvalid', 'involvedObject.namespace', `Invalid value: ${JSON.stringify(namespace)}: does not match event.namespace`);
  }
}

/**
 * Kind-specific validation of an object about to be stored; `previous` is the stored object on
 * an update. [] when valid.
 */
export function kindCauses(group: string, kind: string, object: JsonObject, previous: JsonObject | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  const add: AddCause = (reason, field, message) => causes.push({ reason, field, message });
  switch (`${group}/${kind}`) {
    case 'batch/CronJob':
      cronJobCauses(object, add);
      break;
    case 'batch/Job':
      jobCauses(object, previous, add);
      break;
    case 'events.k8s.io/Event':
      eventsV1Causes(object, add);
      break;
    case '/Event':
      coreEventCauses(object, add);
      break;
  }
  return causes;
}
