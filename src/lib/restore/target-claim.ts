/**
 * One restore at a time per target server. Two restores loading one dump into one server each
 * pass the plan's checks (the server is empty for both), then both create and load: one fails on
 * an index the other made, the other doubles every keyless table's rows and reports success.
 *
 * The claim is a named lock on the target (GET_LOCK), taken on a connection of its own that stays
 * open for the whole restore. The server releases a named lock when its connection ends, so a
 * restore that is killed, or whose host dies, never leaves a claim behind to be cleared by hand.
 */
import { MysqlError, PreconditionError, type AppErrorOptions } from '../errors.js';
import type { MysqlConnector, MysqlSession } from '../mysql/connection.js';

/** The lock every bloodraven restore takes on its target. */
export const restoreLockName = 'bloodraven.restore';

/** Who holds the claim, as far as the server tells us (PROCESSLIST needs the PROCESS privilege for other accounts). */
export interface ClaimHolder {
  connectionId: number;
  user: string | null;
  host: string | null;
  /** Seconds the connection has been in its current state. */
  seconds: number | null;
}

export interface TargetClaim {
  /** The server's id of the connection that holds the lock. */
  readonly connectionId: number;
  /** Releases the claim (ends its connection). Safe to call more than once. */
  release(): Promise<void>;
}

/** Another run holds the target's claim: refused with nothing touched (exit 3). */
export class TargetClaimedError extends PreconditionError {
  readonly holder: ClaimHolder;

  constructor(message: string, holder: ClaimHolder, options: AppErrorOptions = {}) {
    super('TARGET_CLAIMED', message, options);
    this.holder = holder;
  }
}

/**
 * Takes the claim on `connector`'s target without waiting; throws TargetClaimedError naming the
 * holder when another session has it. `holderDetail` may add what bloodraven itself recorded
 * about the holder (its process and host, from the load progress file).
 */
export async function claimTarget(connector: MysqlConnector, holderDetail?: (holder: ClaimHolder) => Promise<string | null>): Promise<TargetClaim> {
  const session = await connector.connect();
  try {
    // The connection sits idle while the load runs, for hours on a big dump: the server's idle
    // timeout (wait_timeout, 8 h by default) must not end it and the claim with it.
    await session.exec('SET SESSION wait_timeout = 31536000');
    let holder: ClaimHolder | null = null;
    // Twice: a holder that let go between our GET_LOCK and the look at who holds it is no reason to refuse.
    for (let attempt = 0; attempt < 2 && holder === null; attempt++) {
      const [row] = await session.query<{ got: string | number | null; id: string | number }>('SELECT GET_LOCK(?, 0) AS got, CONNECTION_ID() AS id', [restoreLockName]);
      if (Number(row?.got) === 1) return heldClaim(session, Number(row?.id));
      if (row?.got === null || row?.got === undefined) {
        throw new MysqlError('TARGET_CLAIM_FAILED', `could not take the restore claim (GET_LOCK('${restoreLockName}')) on ${connector.target}: the server answered NULL`, {
          hint: 'the server could not take a named lock (out of memory, or the connection was killed); see its error log, then run the restore again',
        });
      }
      holder = await describeHolder(session);
    }
    const detail = holder ? await holderDetail?.(holder).catch(() => null) : null;
    throw claimedError(connector.target, holder ?? { connectionId: 0, user: null, host: null, seconds: null }, detail ?? null);
  } catch (err) {
    await session.close().catch(() => session.destroy());
    throw err;
  }
}

function heldClaim(session: MysqlSession, connectionId: number): TargetClaim {
  let released: Promise<void> | undefined;
  return {
    connectionId,
    release() {
      // Closing the connection releases the lock: no RELEASE_LOCK round trip that could hang on a dead server.
      released ??= session.close().catch(() => session.destroy());
      return released;
    },
  };
}

async function describeHolder(session: MysqlSession): Promise<ClaimHolder | null> {
  const [used] = await session.query<{ id: string | number | null }>('SELECT IS_USED_LOCK(?) AS id', [restoreLockName]);
  if (used?.id === null || used?.id === undefined) return null;
  const connectionId = Number(used.id);
  const [p] = await session.query<{ user: string | null; host: string | null; time: string | number | null }>(
    'SELECT USER AS user, HOST AS host, TIME AS time FROM information_schema.PROCESSLIST WHERE ID = ?',
    [connectionId],
  );
  return { connectionId, user: p?.user ?? null, host: p?.host ?? null, seconds: p?.time === null || p?.time === undefined ? null : Number(p.time) };
}

function claimedError(target: string, holder: ClaimHolder, detail: string | null): TargetClaimedError {
  const who =
    holder.connectionId === 0
      ? 'another session'
      : holder.user !== null
        ? `connection ${holder.connectionId} of ${holder.user}@${holder.host ?? '?'}${holder.seconds !== null ? ` (in its current state for ${holder.seconds} s)` : ''}`
        : `connection ${holder.connectionId} (this account cannot see its details: that needs the PROCESS privilege)`;
  const message = `another restore is running into ${target}: ${who} holds the restore claim (GET_LOCK '${restoreLockName}')${detail ? `; ${detail}` : ''}. Nothing was changed`;
  const check = holder.connectionId === 0 ? 'SHOW PROCESSLIST on the server' : `SHOW PROCESSLIST on the server; KILL ${holder.connectionId} ends it if it is stuck, releasing the claim`;
  return new TargetClaimedError(message, holder, { hint: `wait for that restore to finish, then run this one again if it is still needed; or check that process (${check})` });
}
