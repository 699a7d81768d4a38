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
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';

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
  /** Wall time for the Lease's times, and monotonic-enough time for the observed-change rule. */
  now?: () => Date;
  logger: Logger;
  /**
   * Called when this replica becomes leader; `signal` fires when it stops leading (lost the
   * Lease, could not renew, or the elector was stopped). May return a promise; it is not awaited
   * before renewing starts.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called each time this replica stops leading (after `signal` fired). */
  onStoppedLeading?(): void;
  /** Called when the observed holder changes (including to self); `''` = none. */
  onNewLeader?(identity: string): void;
}

export class LeaderElector {
  constructor(config: LeaderElectionConfig) {
    void config;
  }

  /**
   * Campaigns, leads, and campaigns again after losing the Lease, until `signal` fires; then
   * stops leading, releases the Lease if held, and resolves. Never rejects for API errors (they
   * are logged and retried).
   */
  run(signal: AbortSignal): Promise<void> {
    void signal;
    throw new Error('not yet');
  }

  /** Whether this replica currently leads. */
  get isLeader(): boolean {
    throw new Error('not yet');
  }

  /** The holder last observed (`''` = none, undefined = not yet read). */
  get leader(): string | undefined {
    throw new Error('not yet');
  }
}

/** `2026-11-30T06:45:32.123000Z`: RFC 3339 with exactly 6 fraction digits (Kubernetes MicroTime). */
export function formatMicroTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export type { V1Lease };
