/**
 * Streaming authenticated encryption of one file: AES-256-GCM over fixed-size segments, so files
 * of any size stream in bounded memory and every kind of tampering is caught.
 *
 *   file    = header, segment*
 *   header  = "BRSEG1" (6) | segment size (u32 BE) | nonce prefix (8 random bytes)
 *   segment = ciphertext (segment size bytes, or fewer for the last) | GCM tag (16)
 *
 * Segment i is encrypted under nonce = prefix (8) | i (u32 BE), with additional data binding the
 * file's name, i and whether it is the last segment. So:
 * - a flipped byte fails that segment's tag;
 * - reordered segments fail (the index is in the nonce);
 * - a file cut at a segment boundary fails (no segment ends with the "last" flag);
 * - a file swapped for another of the same backup fails (its name is in the additional data);
 * - a file from another backup fails (another data key).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError, ExitCode } from '../errors.js';

const MAGIC = Buffer.from('BRSEG1');
const HEADER_SIZE = MAGIC.length + 4 + 8;
const TAG_SIZE = 16;
export const defaultSegmentSize = 64 * 1024;

function additionalData(fileName: string, index: number, last: boolean): Buffer {
  const name = Buffer.from(fileName, 'utf8');
  const out = Buffer.alloc(name.length + 5);
  name.copy(out);
  out.writeUInt32BE(index, name.length);
  out[name.length + 4] = last ? 1 : 0;
  return out;
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 8);
  n.writeUInt32BE(index, 8);
  return n;
}

export class TamperedError extends AppError {
  constructor(fileName: string, what: string) {
    super('ENCRYPTED_FILE_TAMPERED', `${fileName} failed authentication: ${what}`, ExitCode.failure, {
      hint: 'the stored file was changed, cut, reordered or swapped (or belongs to another backup); restore another backup',
    });
  }
}

/** Encrypts a byte stream for the file named `fileName` (its name within its backup). */
export function createEncryptStream(key: Buffer, fileName: string, segmentSize = defaultSegmentSize): Transform {
  const prefix = randomBytes(8);
  let index = 0;
  let pending: Buffer = Buffer.alloc(0);
  let started = false;
  const seal = (plain: Buffer, last: boolean): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', key, nonce(prefix, index));
    cipher.setAAD(additionalData(fileName, index, last));
    const out = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    index++;
    return out;
  };
  const header = (): Buffer => {
    const h = Buffer.alloc(HEADER_SIZE);
    MAGIC.copy(h);
    h.writeUInt32BE(segmentSize, MAGIC.length);
    prefix.copy(h, MAGIC.length + 4);
    return h;
  };
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (!started) {
        started = true;
        this.push(header());
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      // Keep at least one byte back: only the end of the stream may close with the last segment.
      while (pending.length > segmentSize) {
        this.push(seal(pending.subarray(0, segmentSize), false));
        pending = pending.subarray(segmentSize);
      }
      cb();
    },
    flush(cb: TransformCallback) {
      if (!started) this.push(header());
      this.push(seal(pending, true));
      cb();
    },
  });
}

/** Decrypts what createEncryptStream wrote; any tampering fails with TamperedError naming the file. */
export function createDecryptStream(key: Buffer, fileName: string): Transform {
  let header: { segmentSize: number; prefix: Buffer } | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  let index = 0;
  let done = false;
  const open = (sealed: Buffer, last: boolean): Buffer => {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(header!.prefix, index));
    decipher.setAAD(additionalData(fileName, index, last));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    try {
      const plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE)), decipher.final()]);
      index++;
      return plain;
    } catch {
      throw new TamperedError(fileName, `segment ${index} does not authenticate`);
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        if (!header) {
          if (buffered.length < HEADER_SIZE) return cb();
          if (!buffered.subarray(0, MAGIC.length).equals(MAGIC)) throw new TamperedError(fileName, 'it is not an encrypted bloodraven file');
          header = { segmentSize: buffered.readUInt32BE(MAGIC.length), prefix: Buffer.from(buffered.subarray(MAGIC.length + 4, HEADER_SIZE)) };
          buffered = buffered.subarray(HEADER_SIZE);
        }
        const whole = header.segmentSize + TAG_SIZE;
        // A whole segment with more bytes after it cannot be the last one.
        while (buffered.length > whole) {
          if (done) throw new TamperedError(fileName, 'data follows its last segment');
          this.push(open(buffered.subarray(0, whole), false));
          buffered = buffered.subarray(whole);
        }
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!header) throw new TamperedError(fileName, 'it is cut short (no header)');
        if (buffered.length < TAG_SIZE) throw new TamperedError(fileName, 'it is cut short');
        this.push(open(buffered, true));
        done = true;
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/** Encrypts a small buffer in one go (metadata files). */
export async function encryptBuffer(key: Buffer, fileName: string, data: Buffer): Promise<Buffer> {
  return collect(createEncryptStream(key, fileName), data);
}

export async function decryptBuffer(key: Buffer, fileName: string, data: Buffer): Promise<Buffer> {
  return collect(createDecryptStream(key, fileName), data);
}

function collect(t: Transform, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    t.on('data', (b: Buffer) => out.push(b));
    t.on('end', () => resolve(Buffer.concat(out)));
    t.on('error', reject);
    t.end(data);
  });
}
