/**
 * A watch on a server a run talks to. A server that stops answering but keeps its connections
 * open (a stopped process, a full disk it waits on, stuck storage, a network that drops packets
 * silently) would keep every statement waiting for ever, and with them the run and whatever it
 * holds. A statement cannot be bounded on its own: a LOAD DATA of a big chunk or a SELECT of a big
 * table is legitimately long. What is bounded is the server's silence: a connection of the
 * watch's own asks `SELECT 1` every few seconds (it waits on no lock the run takes: not on the
 * backup stage, not on a global read lock), and once nothing has answered for the bound, the
 * run is stopped with SERVER_UNRESPONSIVE: its signal fires and every session opened through the
 * watch is dropped, so a server that resumes finds them gone and releases their locks.
 *
 * The silence is measured by this process's own ticks. A tick that comes far too late means this
 * process was not running (stopped with SIGSTOP, its machine suspended, its event loop blocked):
 * that silence is its own, not the server's. The bound starts again, and a session the server
 * closed meanwhile (its wait_timeout) fails with a hint that says this process was paused.
 */
import { AppError, errorMessage, MysqlError, ServerUnresponsiveError } from '../errors.js';
import { PauseDetector } from '../pause-detector.js';
import type { MysqlConnector, MysqlSession } from './connection.js';

/** The default bound on a server's silence (config mysql.unresponsiveTimeout). */
export const defaultUnresponsiveTimeoutMs = 60_000;

export interface ServerWatch {
  /**
   * The watched server's connector: sessions opened through it are dropped when the server is
   * declared unresponsive, and new ones are refused from then on.
   */
  readonly connector: MysqlConnector;
  /**
   * Fires with the run's own signal, or with a ServerUnresponsiveError as its reason when the
   * server stops answering. The run's work uses this signal in place of the run's.
   */
  readonly signal: AbortSignal;
  /** Stops watching and closes the watch's connection. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface ServerWatchOptions {
  /** The run's signal. */
  signal: AbortSignal;
  /** The bound on silence; default the connector's unresponsiveTimeoutMs, else 60 s. */
  timeoutMs?: number;
}

/**
 * Starts watching `connector`'s server: opens the watch's connection (bounded by the connector's
 * connect timeout; its failure is the run's) and pings from then on. Its timers never keep the
 * process alive. Call stop() when the run ends, however it ends.
 */
export async function watchServer(connector: MysqlConnector, options: ServerWatchOptions): Promise<ServerWatch> {
  const timeoutMs = options.timeoutMs ?? connector.options.unresponsiveTimeoutMs ?? defaultUnresponsiveTimeoutMs;
  // Several pings fit in the bound, so one lost to a dropped watch connection is no verdict.
  const pingEveryMs = Math.max(50, Math.min(5_000, timeoutMs / 4));
  const fired = new AbortController();
  const signal = AbortSignal.any([options.signal, fired.signal]);
  const sessions = new Set<Pick<MysqlSession, 'destroy'>>();
  let pinger: MysqlSession | undefined = await connector.connect();
  let lastAnswerAt = Date.now();
  let lastPingAt = 0;
  let pinging = false;
  let lastProblem: string | undefined;
  let stopped = false;
  const tickMs = Math.max(25, Math.min(1_000, pingEveryMs / 2));
  const pauses = new PauseDetector(tickMs);
  /** The longest time this process was found not running, in ms (0: never). */
  let pausedMs = 0;

  const whenFired = new Promise<never>((_resolve, reject) => fired.signal.addEventListener('abort', () => reject(fired.signal.reason as Error), { once: true }));
  whenFired.catch(() => undefined);

  const fire = (): void => {
    const silentMs = Date.now() - lastAnswerAt;
    const setting = connector.options.settingNames?.unresponsiveTimeout;
    const err = new ServerUnresponsiveError(connector.target, silentMs, {
      hint:
        `check the server: a stopped or hung process, a full disk or stuck storage under it, or the network to it${lastProblem ? ` (the last attempt to reach it: ${lastProblem})` : ''}; ` +
        `then run again${setting ? `. If it is only very busy, raise ${setting} (now ${Math.round(timeoutMs / 1000)} s)` : ''}`,
    });
    end();
    for (const s of [...sessions]) s.destroy(err);
    pinger?.destroy(err);
    pinger = undefined;
    fired.abort(err);
  };

  const ping = async (): Promise<void> => {
    pinging = true;
    lastPingAt = Date.now();
    try {
      if (!pinger) {
        const fresh = await connector.connect();
        // The server may answer the connect only after the verdict, or after stop().
        if (stopped) return fresh.destroy();
        pinger = fresh;
      }
      await pinger.query('SELECT 1');
      lastAnswerAt = Date.now();
      lastProblem = undefined;
    } catch (err) {
      // A lost watch connection (killed, or the server restarted) is no verdict by itself: a new
      // one is tried at the next ping, and only the silence counts.
      lastProblem = errorMessage(err);
      pinger?.destroy();
      pinger = undefined;
    } finally {
      pinging = false;
    }
  };

  const timer = setInterval(() => {
    if (stopped) return;
    const now = Date.now();
    const gap = pauses.tick(now);
    if (gap > 0) {
      // This process was away: the server gets a whole bound from now, and a ping at once.
      pausedMs = Math.max(pausedMs, gap);
      lastAnswerAt = now;
      lastPingAt = 0;
    }
    if (now - lastAnswerAt >= timeoutMs) return fire();
    if (!pinging && now - lastPingAt >= pingEveryMs) void ping();
  }, tickMs);
  timer.unref();

  /** `work`, with explain() applied to its failure. */
  const explained = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (err) {
      throw explain(err);
    }
  };

  /** A session the server closed while this process was paused says so. */
  const explain = (err: unknown): unknown => {
    // The failure can be handled before the first tick after the pause: it counts as a tick.
    const paused = Math.max(pausedMs, stopped ? 0 : pauses.pending());
    if (paused === 0 || !(err instanceof AppError) || err.code !== 'MYSQL_CONNECTION_LOST') return err;
    const seconds = Math.round(paused / 1000);
    // In the message too: it is what the backup record and `backup list` keep.
    return new MysqlError(err.code, `${err.message} (after this process was paused for ${seconds} s)`, {
      cause: err,
      hint: `this process was paused for ${seconds} s (stopped with SIGSTOP, its machine suspended, or starved of CPU), and the server closed its idle sessions meanwhile (wait_timeout); run again, and do not pause a run for long`,
    });
  };

  function end(): void {
    stopped = true;
    clearInterval(timer);
    signal.removeEventListener('abort', end);
  }
  // An interrupted run needs no more pings.
  signal.addEventListener('abort', end, { once: true });

  const watched: MysqlConnector = {
    target: connector.target,
    user: connector.user,
    options: connector.options,
    async connect() {
      if (fired.signal.aborted) throw fired.signal.reason as Error;
      const opening = connector.connect();
      let session: MysqlSession;
      try {
        session = await Promise.race([opening, whenFired]);
      } catch (err) {
        // A connection the frozen server completes later is dropped at once.
        if (fired.signal.aborted) opening.then((late) => late.destroy(), () => undefined);
        throw err;
      }
      return track(session);
    },
    watch(session) {
      if (fired.signal.aborted) session.destroy(fired.signal.reason as Error);
      sessions.add(session);
      session.explainErrorsWith(explain);
    },
  };

  const track = (session: MysqlSession): MysqlSession => {
    sessions.add(session);
    return {
      threadId: session.threadId,
      query: (sql, values) => explained(session.query(sql, values)),
      exec: (sql, values) => explained(session.exec(sql, values)),
      raw: (sql, onRow) => {
        const handle = session.raw(sql, onRow);
        const done = explained(handle.done);
        done.catch(() => undefined);
        return { pause: () => handle.pause(), resume: () => handle.resume(), done };
      },
      loadLocal: (sql, source) => explained(session.loadLocal(sql, source)),
      async close() {
        try {
          await session.close();
        } finally {
          sessions.delete(session);
        }
      },
      destroy(reason) {
        sessions.delete(session);
        session.destroy(reason);
      },
    };
  };

  return {
    connector: watched,
    signal,
    async stop() {
      end();
      const last = pinger;
      pinger = undefined;
      // The watch's connection may be waiting on the server itself: no goodbye that could hang.
      if (last && (pinging || fired.signal.aborted)) last.destroy();
      else await last?.close();
    },
  };
}
