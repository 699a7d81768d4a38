/**
 * Which site a backup is taken from (the reference's "Backup source selection"): a replica first,
 * so the primary is not loaded by a long dump; the primary when no replica is fit (unreachable,
 * not replicating, or lagging beyond `maxLagSecondsForSource`); `sourceSiteOverride` over both.
 *
 * The decision is pure (`chooseBackupSource`); `probeSite` asks one server what the decision needs.
 */
import type { MysqlConnector } from '../mysql/connection.js';
import { errorMessage } from '../errors.js';

/** What one site's server said when asked, or why it could not be asked. */
export type SiteState =
  | { reachable: false; error: string }
  | {
      reachable: true;
      /** @@global.read_only (or super_read_only) is on. */
      readOnly: boolean;
      /** The server has a replication channel configured. */
      isReplica: boolean;
      /** Both replication threads run (IO and SQL). */
      replicating: boolean;
      /** Seconds_Behind_Master/Source; null when the server does not know (a thread stopped). */
      lagSeconds: number | null;
    };

export interface SourceChoice {
  site: string;
  /** Why this site, in words, for the CR's condition and the logs. */
  reason: string;
  /** The sites passed over and why (a replica that was not fit). */
  passedOver: Array<{ site: string; why: string }>;
}

export interface ChooseSourceInput {
  /** spec.sites[].name in order. */
  sites: readonly string[];
  /** status.activeSite: the primary, when the group's operator says which. */
  activeSite: string | undefined;
  /** spec.sourceSiteOverride of the MysqlBackup. */
  override: string | undefined;
  /** spec.backup.maxLagSecondsForSource. */
  maxLagSeconds: number;
  states: ReadonlyMap<string, SiteState>;
}

/** Why a replica is not fit to be the source, or null when it is. */
function unfitReason(state: SiteState | undefined, maxLag: number): string | null {
  if (!state) return 'not probed';
  if (!state.reachable) return `unreachable (${state.error})`;
  if (!state.isReplica) return 'not a replica';
  if (!state.replicating) return 'not replicating (a replication thread is stopped)';
  if (state.lagSeconds === null) return 'replication lag unknown';
  if (state.lagSeconds > maxLag) return `lagging ${state.lagSeconds} s, more than maxLagSecondsForSource (${maxLag} s)`;
  return null;
}

/**
 * Chooses the source site. The primary is `activeSite` when set, else the first reachable
 * writable site, else `sites[0]`. Throws (a plain Error, the caller fails the backup with it) when
 * `override` names no site of the group.
 */
export function chooseBackupSource(input: ChooseSourceInput): SourceChoice {
  const { sites, activeSite, override, maxLagSeconds, states } = input;
  if (override !== undefined && override !== '') {
    if (!sites.includes(override)) throw new Error(`spec.sourceSiteOverride names site "${override}", which is not in the group's spec.sites (${sites.join(', ')})`);
    return { site: override, reason: `spec.sourceSiteOverride names ${override}`, passedOver: [] };
  }
  const primary =
    (activeSite && sites.includes(activeSite) ? activeSite : undefined) ??
    sites.find((s) => {
      const st = states.get(s);
      return st?.reachable === true && !st.readOnly && !st.isReplica;
    }) ??
    sites[0];
  if (primary === undefined) throw new Error('the group has no sites (spec.sites is empty)');
  const passedOver: SourceChoice['passedOver'] = [];
  for (const site of sites) {
    if (site === primary) continue;
    const why = unfitReason(states.get(site), maxLagSeconds);
    if (why === null) return { site, reason: `replica ${site} is replicating within maxLagSecondsForSource`, passedOver };
    passedOver.push({ site, why });
  }
  const reason =
    passedOver.length === 0
      ? `primary ${primary}: the group has no other site`
      : `primary ${primary}: no replica is fit (${passedOver.map((p) => `${p.site} ${p.why}`).join('; ')})`;
  return { site: primary, reason, passedOver };
}

/**
 * Asks one server for what source selection needs: read_only, and the replication threads and
 * lag from SHOW REPLICA STATUS (MariaDB ≥ 10.5 and MySQL ≥ 8.0.22 both accept it; older servers
 * get SHOW SLAVE STATUS). Never throws: a failure is `reachable: false` with the reason.
 */
export async function probeSite(connector: MysqlConnector): Promise<SiteState> {
  let session;
  try {
    session = await connector.connect();
  } catch (err) {
    return { reachable: false, error: errorMessage(err) };
  }
  try {
    const [ro] = await session.query<{ ro: string | number }>('SELECT @@GLOBAL.read_only AS ro');
    let rows;
    try {
      rows = await session.query('SHOW REPLICA STATUS');
    } catch {
      rows = await session.query('SHOW SLAVE STATUS');
    }
    const status = rows[0];
    const readOnly = Number(ro?.ro ?? 0) !== 0;
    if (!status) return { reachable: true, readOnly, isReplica: false, replicating: false, lagSeconds: null };
    const field = (...names: string[]): unknown => names.map((n) => status[n]).find((v) => v !== undefined);
    const text = (v: unknown): string => (typeof v === 'string' ? v : '');
    const io = text(field('Replica_IO_Running', 'Slave_IO_Running'));
    const sql = text(field('Replica_SQL_Running', 'Slave_SQL_Running'));
    const lag = field('Seconds_Behind_Source', 'Seconds_Behind_Master');
    return {
      reachable: true,
      readOnly,
      isReplica: true,
      replicating: io === 'Yes' && sql === 'Yes',
      lagSeconds: lag === null || lag === undefined || lag === '' ? null : Number(lag),
    };
  } catch (err) {
    return { reachable: false, error: errorMessage(err) };
  } finally {
    await session.close().catch(() => undefined);
  }
}
