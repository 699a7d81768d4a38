/** --help text shared by the commands that talk to a server for long: what bounds them, and what a second Ctrl-C does. */

/** The server watch (mysql.unresponsiveTimeout) and the second Ctrl-C, for `role`: "the source", "the target", "the scratch server". */
export function faultHelp(role: string): string {
  return (
    `If ${role} stops answering (a stopped or hung process, storage stuck under it, a network that drops packets) for mysql.unresponsiveTimeout (default 60s), ` +
    'the run fails with SERVER_UNRESPONSIVE (exit 1): its sessions are dropped, so the server releases their locks once it resumes. ' +
    'A second Ctrl-C quits at once: child processes and scratch servers are killed and temporary files removed, but what the first one was cleaning up may stay (the next command sweeps temporary files; prune removes a failed backup).'
  );
}
