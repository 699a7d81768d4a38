/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
 * it (client-node has none): of several replicas only the one holding the Lease acts.
 *
 * - A candidate GETs the Lease; a missing one is created with itself as holder (a 409 means
 *   another replica created it first). A Lease held by someone else is respected while its record
 *   has changed within `leaseDurationMs`, timed from when *this* process saw it change (so clock
 *   skew between replicas does not matter, renewTime is not compared with our clock).
 * - Otherwise it PUTs the fetched Lease with its resourceVersion (compare-and-swap): holder =
 *   self, renewTime = now; when the holder changes also acquireTime = now and leaseTransitions + 1.
 *   A 409 means another replica won.
 * - The leader renews every `retryPeriodMs`; if it cannot renew for `renewDeadlineMs` it stops
 *   leading (the signal given to onStartedLeading fires) and becomes a candidate again.
 * - On stop, a leader releases the Lease (empty holder, leaseDurationSeconds 1) so a standby
 *   takes over at once instead of after the lease duration.
 *
 * Times are MicroTime with exactly 6 fraction digits, as the API server requires.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { isStatus } from './errors.js';

export interface LeaderElectionConfig {
  /** Client for coordination.k8s.io/v1 (`kubeConfig.makeApiClient(CoordinationV1Api)`). */
  api: CoordinationV1Api;
  /** Where the Lease lives: the daemon's own namespace. */
  namespace: string;
  /** The Lease's name, e.g. `bloodraven-controller`. */
  name: string;
  /** This replica's identity: its pod name (unique among candidates). */
  identity: string;
  /** How long a non-renewed Lease keeps others off. Default 15 000. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up leading. Default 10 000. */
  renewDeadlineMs?: number;
  /** Pause between attempts (acquire and renew). Default 2 000. */
  retryPeriodMs?: number;
  /** Wall time written into the Lease (the observed-change rule uses this process's own clock). */
  now?: () => Date;
  logger: Logger;
  /**
   * Called when this replica becomes leader; `signal` fires when it stops leading (lost the
   * Lease, could not renew, or the elector was stopped). May return a promise; it is not awaited
   * before renewing starts.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /**
   * Called each time this replica stops leading (after `signal` fired); awaited before the Lease
   * is released on stop, so a standby does not start while this one's work still winds down.
   */
  onStoppedLeading?(): void | Promise<void>;
  /** Called when the observed holder changes (including to self); `''` = none. */
  onNewLeader?(identity: string): void;
}

/** The Lease spec fields of the election record. */
type LeaseSpec = NonNullable<V1Lease['spec']>;

export class LeaderElector {
  private readonly c: Required<Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'now'>> & LeaderElectionConfig;
  private leading = false;
  private observedHolder: string | undefined;
  /** The record last read or written, as JSON, and when (our clock) it last changed. */
  private observedRecord = '';
  private observedAt = 0;
  private observedLeaseSeconds = 0;

  constructor(config: LeaderElectionConfig) {
    this.c = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: () => new Date(), ...config };
    if (this.c.renewDeadlineMs >= this.c.leaseDurationMs) throw new Error('leader election: renewDeadlineMs must be shorter than leaseDurationMs');
    if (this.c.retryPeriodMs >= this.c.renewDeadlineMs) throw new Error('leader election: retryPeriodMs must be shorter than renewDeadlineMs');
  }

  /**
   * Campaigns, leads, and campaigns again after losing the Lease, until `signal` fires; then
   * stops leading, releases the Lease if held, and resolves. Never rejects for API errors (they
   * are logged and retried).
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.acquire(signal))) break;
      const term = new AbortController();
      this.leading = true;
      this.c.logger.info('became leader', { lease: `${this.c.namespace}/${this.c.name}`, identity: this.c.identity });
      try {
        void Promise.resolve(this.c.onStartedLeading(term.signal)).catch((err: unknown) =>
          this.c.logger.error('leader work failed', { error: errorMessage(err) }),
        );
      } catch (err) {
        this.c.logger.error('leader work failed', { error: errorMessage(err) });
      }
      await this.renewUntilLost(signal);
      this.leading = false;
      term.abort(new Error('leadership lost'));
      if (!signal.aborted) this.c.logger.warn('stopped leading: could not renew the lease', { lease: `${this.c.namespace}/${this.c.name}` });
      try {
        await this.c.onStoppedLeading?.();
      } catch (err) {
        this.c.logger.error('stopping the leader work failed', { error: errorMessage(err) });
      }
      if (signal.aborted) await this.release();
    }
  }

  /** Whether this replica currently leads. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed (`''` = none, undefined = not yet read). */
  get leader(): string | undefined {
    return this.observedHolder;
  }

  /** Tries until the Lease is ours (true) or `signal` fires (false); waits retryPeriod × [1, 2.2) between tries. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      if (await this.tryAcquireOrRenew(this.c.renewDeadlineMs)) return true;
      if (!(await pause(this.c.retryPeriodMs * (1 + Math.random() * 1.2), signal))) return false;
    }
  }

  /**
   * Renews every retryPeriod. Each round retries until renewDeadline has passed since the round
   * began; a round without success ends the term. Returns when the term ends or `signal` fires.
   */
  private async renewUntilLost(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (!(await pause(this.c.retryPeriodMs, signal))) return;
      const deadline = Date.now() + this.c.renewDeadlineMs;
      for (;;) {
        if (signal.aborted) return;
        const left = deadline - Date.now();
        if (left <= 0) return;
        if (await this.tryAcquireOrRenew(left)) break;
        if (!(await pause(Math.min(this.c.retryPeriodMs, deadline - Date.now()), signal))) return;
      }
    }
  }

  /** client-go's tryAcquireOrRenew; false on any failure (logged), never throws. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    try {
      return await withTimeout(this.attempt(), timeoutMs, false);
    } catch (err) {
      this.c.logger.warn('leader election: lease request failed', { lease: `${this.c.namespace}/${this.c.name}`, error: errorMessage(err) });
      return false;
    }
  }

  private async attempt(): Promise<boolean> {
    const { api, namespace, name, identity } = this.c;
    const now = this.c.now();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: this.leaseSeconds(), acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 };
      try {
        const created = await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } });
        this.observe(created.spec ?? spec);
        return true;
      } catch (createErr) {
        if (isStatus(createErr, 409)) return false; // another replica created it first
        throw createErr;
      }
    }
    const old = lease.spec ?? {};
    this.observe(old);
    const holder = old.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && this.observedAt + this.observedLeaseSeconds * 1000 > Date.now()) return false;
    const wasOurs = holder === identity;
    const spec: LeaseSpec = {
      ...old,
      holderIdentity: identity,
      leaseDurationSeconds: this.leaseSeconds(),
      renewTime: micro(now),
      acquireTime: wasOurs && old.acquireTime ? old.acquireTime : micro(now),
      leaseTransitions: (old.leaseTransitions ?? 0) + (wasOurs ? 0 : 1),
    };
    try {
      const updated = await api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec } });
      this.observe(updated.spec ?? spec);
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false; // someone else wrote it since our read
      throw err;
    }
  }

  /** Releases the Lease if we hold it: empty holder, 1 s duration, so a standby takes over at once. */
  private async release(): Promise<void> {
    const { api, namespace, name, identity } = this.c;
    try {
      const lease = await withTimeout(api.readNamespacedLease({ namespace, name }), this.c.renewDeadlineMs, undefined);
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      const now = this.c.now();
      const spec: LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(now), acquireTime: micro(now) };
      await withTimeout(api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec } }), this.c.renewDeadlineMs, undefined);
      this.c.logger.info('released the lease', { lease: `${namespace}/${name}` });
    } catch (err) {
      this.c.logger.warn('could not release the lease (others take over once it expires)', { lease: `${namespace}/${name}`, error: errorMessage(err) });
    }
  }

  /** Notes the record seen; a changed one restarts the expiry clock (our clock, not renewTime). */
  private observe(spec: LeaseSpec): void {
    const json = JSON.stringify(spec);
    if (json !== this.observedRecord) {
      this.observedRecord = json;
      this.observedAt = Date.now();
      this.observedLeaseSeconds = spec.leaseDurationSeconds ?? Math.ceil(this.c.leaseDurationMs / 1000);
    }
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      this.c.logger.info('lease holder changed', { lease: `${this.c.namespace}/${this.c.name}`, holder: holder || '(none)' });
      this.c.onNewLeader?.(holder);
    }
  }

  private leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.c.leaseDurationMs / 1000));
  }
}

/** A MicroTime for the Lease: client-node's V1MicroTime serializes with 6 fraction digits. */
function micro(d: Date): V1MicroTime {
  return new V1MicroTime(d.getTime());
}

/** Waits `ms`; false if `signal` fired first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(Math.max(0, ms), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * `promise`, or `fallback` once `ms` has passed. The request is not cancelled (client-node's
 * generated calls take no signal): a late answer is simply ignored, and since a late renewal
 * only lengthens a Lease nobody acts under, that is safe.
 */
async function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => undefined);
  }
}

/** `2026-11-30T06:45:32.123000Z`: RFC 3339 with exactly 6 fraction digits (Kubernetes MicroTime). */
export function formatMicroTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export type { V1Lease };
