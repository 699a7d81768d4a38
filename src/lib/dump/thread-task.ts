/**
 * A chunk task as a dump thread runs it: the rows of one SELECT, read raw from the thread's own
 * session, encoded to TSV, checksummed, compressed and hashed, and posted to the coordinator as
 * compressed blocks (or one whole small file) with the facts about each file. The coordinator
 * stores them; when storage is behind it sends `pause`, and the thread stops reading rows (the
 * server then waits once the socket's buffers are full), so memory stays bounded end to end.
 */
import { createHash, hash, type Hash } from 'node:crypto';
import type { Transform } from 'node:stream';
import type { MysqlSession } from '../mysql/connection.js';
import type { RawQueryHandle } from '../mysql/raw-query.js';
import { createEncryptStream, encryptBuffer } from '../crypto/segments.js';
import { compressWhole, createCompressor } from './compression.js';
import { dataFileName } from './names.js';
import type { FromThread, ThreadTask } from './thread-protocol.js';
import { TsvEncoder } from './tsv-encoder.js';

/** Posts a message to the coordinator, moving (not copying) the buffers listed. */
export type PostToCoordinator = (message: FromThread, transfer?: ArrayBuffer[]) => void;

/**
 * Encoded bytes a file may reach and still be compressed whole and sent in one message, stored
 * with one put(): a dump of thousands of small tables writes thousands of files of a few hundred
 * bytes, where a stream pipeline (and a compressor context) per file costs more than the bytes.
 */
export const wholeFileBytes = 256 * 1024;

/**
 * Bytes of compressed output a streamed file gathers before posting them as one block. The
 * compressor's chunks are 16 KiB: one message (and one acknowledgement) each cost more CPU than
 * copying them, about a tenth of a dump thread's time without compression. At most one batch
 * per file, and within the coordinator's in-flight bound.
 */
const batchBytes = 1024 * 1024;

/** Encoded bytes between two progress reports of a task. */
const progressBytes = 1024 * 1024;

/**
 * `bytes` in a buffer of their own, to be transferred. Structured cloning a view copies the whole
 * buffer behind it (a compressor's output chunks are views on a larger buffer it goes on using).
 */
function ownCopy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** One file of a task on its way out of the thread (exported for its unit test). */
export class OutgoingFile {
  private held: Buffer[] | null = [];
  private heldBytes = 0;
  private compressor: Transform | null = null;
  /** Where the bytes to store come out: the compressor, or the encryption after it. */
  private output: Transform | null = null;
  private hash: Hash | null = null;
  private storedBytes = 0;
  private compressorFailure: Error | null = null;
  /** Output gathered into one block (batchBytes), so that a file's bytes cross to the coordinator in few messages. */
  private batch: Uint8Array<ArrayBuffer> | null = null;
  private batchFilled = 0;

  /** The file's name in the dump. */
  private readonly name: string;

  constructor(
    private readonly task: ThreadTask,
    private readonly index: number,
    last: boolean,
    private readonly post: PostToCoordinator,
    /** Called when the compressor takes input again after push() returned false. */
    private readonly onDrain: () => void,
  ) {
    const { basename, extension, rangeChunk, rangeLast } = task.naming;
    this.name = task.kind === 'range' ? dataFileName(basename, extension, rangeChunk, rangeLast) : dataFileName(basename, extension, index, last);
    if (task.storeHashes) this.startStreaming();
  }

  /** Adds encoded bytes; false: the compressor is behind, stop until onDrain. */
  push(block: Buffer): boolean {
    if (this.compressorFailure) throw this.compressorFailure;
    if (this.held) {
      this.held.push(block);
      this.heldBytes += block.length;
      if (this.heldBytes <= wholeFileBytes) return true;
      const held = this.held;
      const compressor = this.startStreaming();
      let more = true;
      for (const b of held) more = compressor.write(b);
      return more;
    }
    return this.compressor!.write(block);
  }

  /** Ends the file and posts what it holds; `encoder` is the one that encoded all of it. */
  async finish(encoder: TsvEncoder): Promise<void> {
    let whole: Uint8Array<ArrayBuffer> | null = null;
    let sha256: string | null;
    if (this.held) {
      const compressed = compressWhole(this.task.compression, this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes));
      this.held = null;
      const seal = this.task.seal;
      const data = seal ? await encryptBuffer(Buffer.from(seal.key), this.name, compressed) : compressed;
      whole = ownCopy(data);
      this.storedBytes = whole.length;
      sha256 = this.task.storeHashes ? null : hash('sha256', whole, 'hex');
    } else {
      const compressor = this.compressor!;
      await new Promise<void>((resolve, reject) => {
        if (this.compressorFailure) {
          reject(this.compressorFailure);
          return;
        }
        this.output!.once('end', resolve);
        this.output!.once('error', reject);
        compressor.end();
      });
      this.postBatch();
      sha256 = this.hash?.digest('hex') ?? null;
    }
    const idx = encoder.idxHasOffsets ? ownCopy(encoder.idxFile()) : null;
    const transfer = [whole?.buffer, idx?.buffer].filter((b): b is ArrayBuffer => b !== undefined);
    this.post(
      {
        type: 'file',
        task: this.task.id,
        file: this.index,
        name: this.name,
        rows: encoder.rows,
        rawBytes: encoder.bytes,
        checksum: encoder.checksum.digest(),
        whole,
        storedBytes: this.storedBytes,
        sha256,
        idx,
      },
      transfer,
    );
  }

  /** Posts the bytes gathered so far as one block, moving its buffer. */
  private postBatch(): void {
    if (!this.batch || this.batchFilled === 0) return;
    const data = this.batchFilled === batchBytes ? this.batch : this.batch.slice(0, this.batchFilled);
    this.batch = null;
    this.batchFilled = 0;
    this.post({ type: 'block', task: this.task.id, file: this.index, data }, [data.buffer]);
  }

  /** Drops the compressor (the task failed). */
  destroy(): void {
    this.held = null;
    this.compressor?.destroy();
    this.output?.destroy();
  }

  private startStreaming(): Transform {
    this.held = null;
    this.post({ type: 'open', task: this.task.id, file: this.index, name: this.name });
    const compressor = createCompressor(this.task.compression);
    this.hash = this.task.storeHashes ? null : createHash('sha256');
    const seal = this.task.seal;
    // Sealed here: what leaves the thread is what is stored, and its hash is the stored bytes'.
    const output = seal ? compressor.pipe(createEncryptStream(Buffer.from(seal.key), this.name, seal.segmentSize)) : compressor;
    if (output !== compressor) compressor.on('error', (err: Error) => output.destroy(err));
    this.output = output;
    output.on('data', (chunk: Buffer) => {
      this.hash?.update(chunk);
      this.storedBytes += chunk.length;
      let rest = chunk;
      while (rest.length > 0) {
        this.batch ??= new Uint8Array(batchBytes);
        const n = Math.min(rest.length, batchBytes - this.batchFilled);
        this.batch.set(rest.subarray(0, n), this.batchFilled);
        this.batchFilled += n;
        rest = rest.subarray(n);
        if (this.batchFilled === batchBytes) this.postBatch();
      }
    });
    compressor.on('drain', this.onDrain);
    output.on('error', (err: Error) => {
      this.compressorFailure ??= err;
    });
    this.compressor = compressor;
    return compressor;
  }
}

/**
 * Bytes of blocks a thread may have posted that the coordinator has not yet taken. Messages queue
 * without limit: a coordinator short of CPU (more threads than cores) would otherwise find ever
 * more blocks waiting for it, however promptly storage asks for a pause.
 */
export const maxBytesInFlight = 4 * 1024 * 1024;

/**
 * Why a task's query is paused: storage behind, the coordinator behind (too many bytes posted and
 * not taken), the compressor behind, or the file before not yet stored.
 */
type PauseReason = 'storage' | 'inFlight' | 'compressor' | 'previous';

export interface ThreadTaskHandle {
  pause(): void;
  resume(): void;
  /** The coordinator has taken `bytes` of the blocks posted. */
  taken(bytes: number): void;
  /** A 'stream' task's file `file` is stored. */
  stored(file: number): void;
  /** Settles once the task has posted `done`, or with its failure. */
  readonly done: Promise<void>;
}

/** Runs `task` on `session` (which runs nothing else meanwhile), posting its files through `post`. */
export function runThreadTask(session: MysqlSession, task: ThreadTask, post: PostToCoordinator): ThreadTaskHandle {
  const reasons = new Set<PauseReason>();
  let query: RawQueryHandle | undefined;
  const hold = (reason: PauseReason): void => {
    if (reasons.size === 0) query?.pause();
    reasons.add(reason);
  };
  const release = (reason: PauseReason): void => {
    if (reasons.delete(reason) && reasons.size === 0) query?.resume();
  };

  let rejectFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    rejectFailure = reject;
  });
  failure.catch(() => undefined);

  const largestValues = new Array<number>(task.kinds.length).fill(0);
  let largestRow = 0;
  const noteLargest = (enc: TsvEncoder): void => {
    enc.largestValues.forEach((v, i) => {
      if (v > largestValues[i]!) largestValues[i] = v;
    });
    largestRow = Math.max(largestRow, enc.largestRow);
  };

  let inFlight = 0;
  const postCounted: PostToCoordinator = (message, transfer) => {
    if (message.type === 'block') {
      inFlight += message.data.byteLength;
      if (inFlight > maxBytesInFlight) hold('inFlight');
    }
    post(message, transfer);
  };

  const finishing: Array<Promise<void>> = [];
  let storedUpTo = -1;
  let fileIndex = 0;
  const openFile = (index: number, last: boolean): OutgoingFile => {
    const file = new OutgoingFile(task, index, last, postCounted, () => {
      if (file === current) release('compressor');
    });
    return file;
  };
  const closeFile = (file: OutgoingFile, enc: TsvEncoder): void => {
    noteLargest(enc);
    const done = file.finish(enc);
    done.catch(rejectFailure);
    finishing.push(done);
  };
  let encoder = new TsvEncoder(task.kinds, task.encoderBlock);
  let current = openFile(0, task.kind === 'range');
  let reportedRows = 0;
  // Progress goes out per MiB encoded, not per encoder block: a message per block cost a dump
  // thread about a tenth of its CPU.
  let unreported = { rows: 0, bytes: 0 };
  let reportedOnce = false;
  const flush = (final = false): void => {
    const block = encoder.take();
    if (block && !current.push(block)) hold('compressor');
    unreported = { rows: unreported.rows + encoder.rows - reportedRows, bytes: unreported.bytes + (block?.length ?? 0) };
    reportedRows = encoder.rows;
    // The first block is reported at once: rows are flowing.
    if (final || unreported.bytes >= progressBytes || !reportedOnce) {
      post({ type: 'progress', task: task.id, ...unreported });
      unreported = { rows: 0, bytes: 0 };
      reportedOnce = true;
    }
  };

  const run = async (): Promise<void> => {
    query = session.raw(task.sql, (buf, start, end) => {
      encoder.encodeRow(buf, start, end);
      if (!encoder.full) return;
      flush();
      if (task.kind === 'stream' && encoder.bytes >= task.bytesPerChunk) {
        // Next file, at this row boundary, once the one before is stored: at most one file of
        // this task is on its way to storage while the next fills.
        closeFile(current, encoder);
        // The file just closed may still be compressing what it was given: that is its finish's
        // wait now, not the new file's (whose drain alone lifts a compressor pause).
        release('compressor');
        fileIndex++;
        if (storedUpTo < fileIndex - 1) hold('previous');
        encoder = new TsvEncoder(task.kinds, task.encoderBlock);
        reportedRows = 0;
        current = openFile(fileIndex, false);
      }
    });
    if (reasons.size > 0) query.pause();
    try {
      await Promise.race([query.done, failure]);
      // The query has ended: a pause now would stay on the connection and hold the next task.
      query = undefined;
      flush(true);
      closeFile(current, encoder);
      if (task.kind === 'stream') {
        current = openFile(fileIndex + 1, true);
        closeFile(current, new TsvEncoder(task.kinds, task.encoderBlock));
      }
      await Promise.race([Promise.all(finishing), failure]);
      post({ type: 'done', task: task.id, largestValues, largestRow });
    } catch (err) {
      current.destroy();
      throw err;
    }
  };

  return {
    pause: () => hold('storage'),
    resume: () => release('storage'),
    taken(bytes) {
      inFlight -= bytes;
      if (inFlight <= maxBytesInFlight) release('inFlight');
    },
    stored(file) {
      storedUpTo = Math.max(storedUpTo, file);
      if (storedUpTo >= fileIndex - 1) release('previous');
    },
    done: run(),
  };
}
