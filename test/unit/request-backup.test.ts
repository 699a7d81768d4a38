/** The MysqlBackup `backup request` creates, and how API failures are explained. */
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { explainApiFailure, mysqlBackupManifest } from '../../src/lib/kube/request-backup.js';

const input = { namespace: 'shop', group: 'orders', profile: 'offsite', schedule: 'nightly' };
const server = 'https://10.0.0.1:443';

/** What client-node throws for a non-2xx answer: the status, and the body as text. */
function apiError(code: number, status: object | string): ApiException<string> {
  const body = typeof status === 'string' ? status : JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, ...status });
  return new ApiException(code, `HTTP-Code: ${code}`, body, {});
}

describe('mysqlBackupManifest', () => {
  it('names, labels and specifies a scheduled request', () => {
    expect(mysqlBackupManifest(input)).toEqual({
      apiVersion: 'shipstream.io/v1alpha1',
      kind: 'MysqlBackup',
      metadata: {
        generateName: 'orders-nightly-',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'bloodraven', 'shipstream.io/group': 'orders', 'shipstream.io/profile': 'offsite', 'shipstream.io/schedule': 'nightly' },
      },
      spec: { failoverGroupRef: { name: 'orders' }, profileName: 'offsite', triggeredBy: 'schedule' },
    });
  });

  it('makes a manual request without a schedule label', () => {
    const manifest = mysqlBackupManifest({ ...input, schedule: undefined });
    expect(manifest.metadata.generateName).toBe('orders-manual-');
    expect(manifest.metadata.labels).not.toHaveProperty('shipstream.io/schedule');
    expect(manifest.spec.triggeredBy).toBe('manual');
  });
});

describe('explainApiFailure', () => {
  it('tells a missing namespace from missing CRDs (both 404)', () => {
    const namespace = explainApiFailure(apiError(404, { reason: 'NotFound', message: 'namespaces "shop" not found', details: { name: 'shop', kind: 'namespaces' } }), input, server);
    expect(namespace.code).toBe('KUBE_NAMESPACE_NOT_FOUND');
    const crd = explainApiFailure(apiError(404, { reason: 'NotFound', message: 'the server could not find the requested resource' }), input, server);
    expect(crd).toMatchObject({ code: 'KUBE_CRD_MISSING', exitCode: 1 });
    expect(crd.hint).toContain('kubectl apply -f crds/');
    // A body that is not a Status (a proxy's page) still says what to do.
    expect(explainApiFailure(apiError(404, '<html>404</html>'), input, server).code).toBe('KUBE_CRD_MISSING');
  });

  it('names the permission a 403 lacks, and the requester ServiceAccount', () => {
    const err = explainApiFailure(apiError(403, { reason: 'Forbidden', message: 'forbidden' }), input, server);
    expect(err.code).toBe('KUBE_FORBIDDEN');
    expect(err.message).toContain('not allowed to create mysqlbackups.shipstream.io in namespace shop');
    expect(err.hint).toContain('mysql-orders-backup-requester');
  });

  it('explains 401 and 422, and calls 429 and 5xx retryable', () => {
    expect(explainApiFailure(apiError(401, { reason: 'Unauthorized', message: 'Unauthorized' }), input, server).code).toBe('KUBE_UNAUTHORIZED');
    const invalid = explainApiFailure(apiError(422, { reason: 'Invalid', message: 'MysqlBackup.shipstream.io "x" is invalid: spec.profileName: Invalid value' }), input, server);
    expect(invalid.code).toBe('KUBE_INVALID');
    expect(invalid.message).toContain('spec.profileName');
    expect(explainApiFailure(apiError(503, 'unavailable'), input, server)).toMatchObject({ code: 'KUBE_API_ERROR', retryable: true });
    expect(explainApiFailure(apiError(409, { reason: 'AlreadyExists', message: 'exists' }), input, server)).toMatchObject({ code: 'KUBE_API_ERROR', retryable: false });
  });

  it('reports a network failure with its cause and the server', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    const err = explainApiFailure(new TypeError('fetch failed', { cause }), input, server);
    expect(err).toMatchObject({ code: 'KUBE_API_UNREACHABLE', retryable: true });
    expect(err.message).toBe('cannot reach the Kubernetes API server at https://10.0.0.1:443: connect ECONNREFUSED 10.0.0.1:443');
  });
});
