/**
 * A dump thread's entry point (a worker thread; see thread-protocol.ts). It opens its own
 * session to the source with the coordinator's connection settings, runs the statements the
 * coordinator sends on it (the snapshot's among them, so its transaction sees the same point in
 * time as every other thread's), and runs chunk tasks (thread-task.ts). It ends when asked to
 * close, or when the coordinator terminates it (which drops its connection).
 */
import { errorToWire } from '../threads/wire-error.js';
import { serveSessionThread } from '../threads/thread-main.js';
import type { FromThread, ToThread } from './thread-protocol.js';
import { runThreadTask, type ThreadTaskHandle } from './thread-task.js';

const tasks = new Map<number, ThreadTaskHandle>();

await serveSessionThread<ToThread, FromThread>((session, message, post) => {
  switch (message.type) {
    case 'task': {
      const handle = runThreadTask(session, message.task, post);
      tasks.set(message.task.id, handle);
      handle.done.then(
        () => tasks.delete(message.task.id),
        (err: unknown) => {
          tasks.delete(message.task.id);
          post({ type: 'taskFailed', task: message.task.id, error: errorToWire(err) });
        },
      );
      return;
    }
    case 'pause':
      tasks.get(message.task)?.pause();
      return;
    case 'resume':
      tasks.get(message.task)?.resume();
      return;
    case 'taken':
      tasks.get(message.task)?.taken(message.bytes);
      return;
    case 'stored':
      tasks.get(message.task)?.stored(message.file);
      return;
  }
});
