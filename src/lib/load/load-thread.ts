/**
 * A load thread's entry point (a worker thread; see load-thread-protocol.ts). It opens its own
 * session to the target with the coordinator's connection settings, runs the statements the
 * coordinator sends on it, and loads the data files it is given: the stored bytes arrive from the
 * coordinator, and the per-byte work (the record check, decryption, decompression, the driver's
 * packets) happens here. It ends when asked to close, or when the coordinator terminates it
 * (which drops its connection).
 */
import { Readable } from 'node:stream';
import type { MysqlSession } from '../mysql/connection.js';
import { serveSessionThread, type PostFromThread } from '../threads/thread-main.js';
import { errorFromWire, errorToWire } from '../threads/wire-error.js';
import { ByteCounter, streamedInput, wholeInput, type FileInput, type StoredFile } from './file-input.js';
import type { FromLoadThread, LoadFileTask, ToLoadThread } from './load-thread-protocol.js';

/** Uncompressed bytes gathered before a `sent` report: progress without a message per chunk. */
const sentReportBytes = 1024 * 1024;

/** The blocks of a streamed file, as they arrive. */
class Intake extends Readable {
  override _read(): void {
    // Blocks are pushed as they arrive; the coordinator's window (`taken`) bounds what waits here.
  }
}

const intakes = new Map<number, Intake>();

function load(session: MysqlSession, task: LoadFileTask, post: PostFromThread<FromLoadThread>): void {
  let unsent = 0;
  const onBytes = (n: number): void => {
    unsent += n;
    if (unsent >= sentReportBytes) {
      post({ type: 'sent', task: task.id, bytes: unsent });
      unsent = 0;
    }
  };
  const file: StoredFile = {
    name: task.name,
    expected: task.expected,
    compression: task.compression,
    rawBytes: task.rawBytes,
    sealKey: task.sealKey ? Buffer.from(task.sealKey.buffer, task.sealKey.byteOffset, task.sealKey.byteLength) : null,
  };
  const opening: Promise<FileInput> = task.whole
    ? wholeInput(file, Buffer.from(task.whole.buffer, task.whole.byteOffset, task.whole.byteLength), onBytes)
    : Promise.resolve(
        (() => {
          const intake = new Intake();
          intakes.set(task.id, intake);
          // Tells the coordinator how much of the task's blocks has been taken off the intake.
          const acknowledger = new ByteCounter((n) => post({ type: 'taken', task: task.id, bytes: n }));
          intake.once('error', (err) => acknowledger.destroy(err));
          return streamedInput(file, intake.pipe(acknowledger), onBytes);
        })(),
      );
  void opening.then(async (input) => {
    try {
      const result = await session.loadLocal(task.sql, input.source);
      await input.ended;
      const failure = input.failure();
      if (unsent > 0) post({ type: 'sent', task: task.id, bytes: unsent });
      if (failure) post({ type: 'loadFailed', task: task.id, error: errorToWire(failure), inputFailed: true });
      else post({ type: 'loaded', task: task.id, result });
    } catch (err) {
      input.stop();
      await input.ended;
      const failure = input.failure();
      post({ type: 'loadFailed', task: task.id, error: errorToWire(failure ?? err), inputFailed: failure !== undefined });
    } finally {
      intakes.delete(task.id);
    }
  });
}

await serveSessionThread<ToLoadThread, FromLoadThread>((session, message, post) => {
  switch (message.type) {
    case 'load':
      load(session, message.task, post);
      return;
    case 'block':
      intakes.get(message.task)?.push(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength));
      return;
    case 'end':
      intakes.get(message.task)?.push(null);
      return;
    case 'stop':
      intakes.get(message.task)?.destroy(errorFromWire(message.error));
      return;
  }
});
