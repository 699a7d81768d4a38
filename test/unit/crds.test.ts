import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { backupCrd, crdFiles, crdSchemaOf, failoverGroupCrd, toStructuralSchema, verificationCrd, type JsonSchemaProps } from '../../src/lib/kube/crds.js';
import { validateBackupSpec, validateGroupSpec } from '../../src/lib/kube/resources.js';

const crdsDir = join(import.meta.dirname, '..', '..', 'crds');

/** The README's example group (README text: /tmp/k8s-readme/h3-resources.md), with an operator field it does not know. */
const readmeGroup = `
apiVersion: shipstream.io/v1alpha1
kind: MysqlFailoverGroup
metadata:
  name: orders
  namespace: orders
spec:
  image: mysql:9.6
  credentials:
    backupSecret: orders-backup-account
  sites:
    - name: east
    - name: west
      mysql: { host: mysql-west.example.internal, port: 3307 }
  backup:
    maxLagSecondsForSource: 120
    retry: { maxAttempts: 3, initialBackoffSeconds: 60, maxBackoffSeconds: 1800 }
    profiles:
      - name: nightly-s3
        retentionPolicy: { count: 14, maxAgeDays: 30, minKeep: 1, maxFailedKeep: 10 }
        storage:
          type: S3
          s3:
            bucket: shipstream-backups
            prefix: orders
            region: us-east-1
            credentialsSecret: s3-backup-creds
        dump: { threads: 8, bytesPerChunk: 128M, compression: zstd, consistent: true }
        encryption: { passphraseSecret: orders-backup-passphrase }
      - name: daily-local
        retention: 7
        storage: { type: PVC, pvc: { storageClassName: fast, size: 50Gi } }
    schedules:
      - { name: nightly, profileName: nightly-s3, schedule: "0 2 * * *", timeZone: America/Los_Angeles }
      - { name: daily, profileName: daily-local, schedule: "30 3 * * *" }
`;

const adHocBackup = `
apiVersion: shipstream.io/v1alpha1
kind: MysqlBackup
metadata: { name: orders-preupgrade, namespace: orders }
spec:
  failoverGroupRef: { name: orders }
  profileName: nightly-s3
  triggeredBy: manual
`;

function openApiSchema(crd: { spec: { versions: Array<{ schema: { openAPIV3Schema: JsonSchemaProps } }> } }): JsonSchemaProps {
  const [version] = crd.spec.versions;
  if (!version) throw new Error('the CRD has no version');
  return version.schema.openAPIV3Schema;
}

/** Every node as [path, node]. */
function nodes(schema: JsonSchemaProps, path = ''): Array<[string, JsonSchemaProps]> {
  const out: Array<[string, JsonSchemaProps]> = [[path, schema]];
  for (const [key, child] of Object.entries(schema.properties ?? {})) out.push(...nodes(child, `${path}.${key}`));
  if (schema.items) out.push(...nodes(schema.items, `${path}[]`));
  if (schema.additionalProperties) out.push(...nodes(schema.additionalProperties, `${path}.*`));
  return out;
}

/** An OpenAPI v3 validator for the CRD's schema: ajv, told about Kubernetes' own keywords and formats. */
function validatorFor(schema: JsonSchemaProps): (value: unknown) => boolean {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  // Kubernetes reads x-kubernetes-int-or-string as "an integer or a string"; ajv would not check it at all.
  const rewrite = (node: JsonSchemaProps): unknown => {
    const copy: Record<string, unknown> = { ...node };
    if (node['x-kubernetes-int-or-string']) copy.type = ['integer', 'string'];
    if (node.properties) copy.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, rewrite(v)]));
    if (node.items) copy.items = rewrite(node.items);
    if (node.additionalProperties) copy.additionalProperties = rewrite(node.additionalProperties);
    // Pruning drops unknown fields; kubectl's strict field validation rejects them: the same as additionalProperties false.
    else if (node.type === 'object' && node.properties && !node['x-kubernetes-preserve-unknown-fields']) copy.additionalProperties = false;
    return copy;
  };
  return ajv.compile(rewrite(schema) as object);
}

describe('crds/', () => {
  it('matches the zod schemas (run `npm run crds` after changing them)', async () => {
    const expected = crdFiles();
    const onDisk = (await readdir(crdsDir)).filter((name) => name !== 'README.md').sort();
    expect(onDisk, 'the files in crds/ are not the generated ones: run npm run crds').toEqual(Object.keys(expected).sort());
    for (const [name, text] of Object.entries(expected)) {
      expect(await readFile(join(crdsDir, name), 'utf8'), `crds/${name} is out of date: run npm run crds`).toBe(text);
    }
  });

  it('holds CustomResourceDefinitions Kubernetes accepts, and a kustomization listing them', () => {
    const files = crdFiles();
    for (const crd of [failoverGroupCrd(), backupCrd(), verificationCrd()]) {
      expect(() => new CustomResourceDefinition(crd).validate()).not.toThrow();
      expect(parse(files[`${crd.metadata.name}.yaml`] ?? '')).toEqual(crd);
    }
    expect(parse(files.Kustomization ?? '')).toMatchObject({
      kind: 'Kustomization',
      resources: ['mysqlfailovergroups.shipstream.io.yaml', 'mysqlbackups.shipstream.io.yaml', 'mysqlbackupverifications.shipstream.io.yaml'],
    });
  });

  it('has the names, subresource and printer columns of the contract', () => {
    const group = failoverGroupCrd();
    const backup = backupCrd();
    expect(group.spec.names).toMatchObject({ kind: 'MysqlFailoverGroup', plural: 'mysqlfailovergroups', shortNames: ['mfg'] });
    expect(backup.spec.names).toMatchObject({ kind: 'MysqlBackup', plural: 'mysqlbackups', shortNames: ['mbk'] });
    for (const crd of [group, backup]) {
      expect(crd.spec).toMatchObject({ group: 'shipstream.io', scope: 'Namespaced' });
      expect(crd.spec.versions).toMatchObject([{ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } }]);
    }
    expect(backup.spec.versions[0]?.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Phase', '.status.phase'],
      ['Source', '.status.sourceSite'],
      ['Location', '.status.location'],
      ['Size', '.status.sizeBytes'],
      ['Age', '.metadata.creationTimestamp'],
      ['Verified', '.status.verification.result'],
    ]);
  });

  it('has structural schemas: every node typed, nothing Kubernetes forbids', () => {
    const allowed = new Set(['type', 'description', 'format', 'default', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'required', 'properties', 'additionalProperties', 'items', 'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys']);
    for (const crd of [failoverGroupCrd(), backupCrd()]) {
      for (const [path, node] of nodes(openApiSchema(crd))) {
        expect(node.type !== undefined || node['x-kubernetes-int-or-string'] === true, `${path} has no type`).toBe(true);
        expect(Object.keys(node).filter((key) => !allowed.has(key)), `${path} uses keywords a CRD does not take`).toEqual([]);
        expect(node.properties !== undefined && node.additionalProperties !== undefined, `${path} has properties and additionalProperties`).toBe(false);
        expect(node['x-kubernetes-int-or-string'] === true && node.type !== undefined, `${path}: int-or-string takes no type`).toBe(false);
        for (const name of node.required ?? []) expect(node.properties?.[name], `${path} requires an undeclared ${name}`).toBeDefined();
      }
    }
  });

  it('keeps the fields the group operator owns, and only the backup part strict', () => {
    const spec = openApiSchema(failoverGroupCrd()).properties?.spec;
    const status = openApiSchema(failoverGroupCrd()).properties?.status;
    expect(spec?.['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(status?.['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(spec?.properties?.sites?.items?.['x-kubernetes-preserve-unknown-fields']).toBe(true);
    // The restores are bloodraven's, checked field by field like spec.backup.
    expect(spec?.properties?.initFromBackup?.['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
    expect(spec?.properties?.restoreInPlace?.properties?.confirm?.type).toBe('string');
    expect(spec?.properties?.backup?.['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
    expect(openApiSchema(backupCrd()).properties?.spec?.['x-kubernetes-preserve-unknown-fields']).toBeUndefined();
  });

  it('accepts the README example and an ad-hoc backup, and refuses what the daemon would refuse on type', () => {
    const groupOk = validatorFor(openApiSchema(failoverGroupCrd()));
    const backupOk = validatorFor(openApiSchema(backupCrd()));
    const group = parse(readmeGroup) as { spec: { backup: { profiles: Array<Record<string, unknown>> } } };
    expect(groupOk(group)).toBe(true);
    expect(backupOk(parse(adHocBackup))).toBe(true);

    const wrongStorage = structuredClone(group);
    wrongStorage.spec.backup.profiles[0] = { name: 'x', storage: { type: 'NFS' } };
    expect(groupOk(wrongStorage)).toBe(false);
    const fileField = structuredClone(group);
    fileField.spec.backup.profiles[1] = { name: 'y', storage: { type: 'PVC', pvc: { path: '/backups' } } };
    expect(groupOk(fileField)).toBe(false);
    expect(backupOk({ ...(parse(adHocBackup) as object), spec: { failoverGroupRef: { name: 'orders' }, profileName: 'x', triggeredBy: 'cron' } })).toBe(false);
  });
});

describe('toStructuralSchema', () => {
  it('merges a union of objects into one object with the discriminator as an enum', () => {
    const schema = crdSchemaOf(z.discriminatedUnion('type', [z.strictObject({ type: z.literal('a'), a: z.string() }), z.strictObject({ type: z.literal('b'), b: z.number() })]));
    expect(schema).toEqual({
      type: 'object',
      properties: { type: { type: 'string', enum: ['a', 'b'] }, a: { type: 'string' }, b: { type: 'number' } },
      required: ['type'],
    });
  });

  it('writes string-or-number as int-or-string, open objects as preserved, and exclusive bounds the OpenAPI v3 way', () => {
    expect(crdSchemaOf(z.union([z.string(), z.number()]))).toEqual({ 'x-kubernetes-int-or-string': true });
    expect(crdSchemaOf(z.looseObject({ a: z.string() }))).toEqual({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'], 'x-kubernetes-preserve-unknown-fields': true });
    expect(crdSchemaOf(z.number().positive())).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true });
  });

  it('refuses what a CRD cannot say', () => {
    expect(() => crdSchemaOf(z.union([z.string(), z.boolean()]))).toThrow(/cannot express/);
    expect(() => toStructuralSchema({ type: 'array' })).toThrow(/one item schema/);
    expect(() => crdSchemaOf(z.object({ a: z.any() }))).toThrow(/no type at \.a/);
  });
});

describe('validateGroupSpec', () => {
  const spec = (): Record<string, unknown> => structuredClone((parse(readmeGroup) as { spec: Record<string, unknown> }).spec);

  it('reads the README example with the defaults filled in and the operator fields kept', () => {
    const result = validateGroupSpec(spec());
    if (!result.success) throw new Error(JSON.stringify(result.issues));
    const backup = result.data.backup;
    expect(result.data.image).toBe('mysql:9.6');
    expect(result.data.sites?.[1]?.mysql).toEqual({ host: 'mysql-west.example.internal', port: 3307 });
    expect(backup?.maxLagSecondsForSource).toBe(120);
    expect(backup?.profiles[0]?.storage).toMatchObject({ type: 'S3', s3: { credentialsSecret: 's3-backup-creds', partSize: 16_000_000 } });
    expect(backup?.profiles[0]?.dump.bytesPerChunk).toBe(128_000_000);
    expect(backup?.profiles[1]?.retentionPolicy).toEqual({ count: 7, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0 });
    expect(backup?.schedules[1]?.timeZone).toBe('Etc/UTC');
  });

  it('names the field of every problem, field rules and cross-field rules together', () => {
    const bad = spec();
    const backup = bad.backup as { profiles: Array<Record<string, unknown>>; schedules: Array<Record<string, unknown>> };
    backup.schedules = [
      { name: 'nightly', profileName: 'missing', schedule: '0 2 * * *' },
      { name: 'nightly', profileName: 'nightly-s3', schedule: '0 25 * * *', timeZone: 'Mars/Olympus' },
    ];
    backup.profiles[1] = { name: 'daily-local', storage: { type: 'PVC', pvc: { claimName: 'mine', size: '5Gi' } } };
    backup.profiles.push({ name: 'Bad_Name', storage: { type: 'S3', s3: { bucket: 'b', credentialsDir: '/x' } } });
    delete bad.credentials;
    const result = validateGroupSpec(bad);
    if (result.success) throw new Error('expected problems');
    const byPath = new Map(result.issues.map((issue) => [issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1), issue.message]));
    expect(byPath.get('spec.backup.schedules[0].profileName')).toBe('no profile named "missing"');
    expect(byPath.get('spec.backup.schedules[1].name')).toBe('schedule "nightly" is defined twice');
    expect(byPath.get('spec.backup.schedules[1].timeZone')).toMatch(/Mars\/Olympus/);
    expect(byPath.get('spec.backup.profiles[1].storage.pvc.claimName')).toMatch(/use either spec\.backup\.profiles\[1\]\.storage\.pvc\.claimName .* or spec\.backup\.profiles\[1\]\.storage\.pvc\.size/);
    expect(byPath.get('spec.backup.profiles[2].name')).toMatch(/lowercase/);
    expect(byPath.get('spec.backup.profiles[2].storage.s3.bucket')).toBeDefined();
    expect(byPath.get('spec.backup.profiles[2].storage.s3')).toMatch(/credentialsDir/);
    expect(byPath.get('spec.credentials')).toMatch(/backupSecret/);
  });

  it('reports a bad cron expression at its schedule, and a PVC profile that says neither claim nor size', () => {
    const bad = spec();
    const backup = bad.backup as { profiles: Array<Record<string, unknown>>; schedules: Array<Record<string, unknown>> };
    backup.schedules = [{ name: 'nightly', profileName: 'nightly-s3', schedule: 'every night' }];
    backup.profiles[1] = { name: 'daily-local', storage: { type: 'PVC', pvc: {} } };
    const result = validateGroupSpec(bad);
    if (result.success) throw new Error('expected problems');
    expect(result.issues.map((issue) => issue.path.join('.'))).toEqual(['spec.backup.profiles.1.storage.pvc', 'spec.backup.schedules.0.schedule']);
  });

  it('leaves a group without spec.backup alone', () => {
    expect(validateGroupSpec({ sites: [{ name: 'east', replicas: 2 }], somethingElse: true })).toMatchObject({ success: true, data: { somethingElse: true } });
  });
});

describe('validateBackupSpec', () => {
  it('defaults triggeredBy to manual and names bad fields', () => {
    expect(validateBackupSpec({ failoverGroupRef: { name: 'orders' }, profileName: 'nightly-s3' })).toEqual({
      success: true,
      data: { failoverGroupRef: { name: 'orders' }, profileName: 'nightly-s3', triggeredBy: 'manual' },
    });
    const bad = validateBackupSpec({ failoverGroupRef: {}, profileName: 'nightly-s3', triggeredBy: 'cron', attempt: 0 });
    expect(bad.success ? [] : bad.issues.map((issue) => issue.path.join('.'))).toEqual(['spec.failoverGroupRef.name', 'spec.triggeredBy', 'spec.attempt']);
  });
});
