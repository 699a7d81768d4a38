/**
 * Compression of data files: zstd (default; one streaming frame per file, as MySQL Shell writes),
 * gzip (one member), or none. Node ≥ 22.15 has zstd in node:zlib, so no native addon is needed.
 */
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from '../config/schema.js';

export const dataExtension: Record<Compression, string> = {
  zstd: 'tsv.zst',
  gzip: 'tsv.gz',
  none: 'tsv',
};

/** MySQL Shell's default levels: zstd 1 and gzip 1 favour speed; dumps are I/O and CPU bound. */
export function createCompressor(kind: Compression): Transform {
  switch (kind) {
    case 'zstd':
      return zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 }, chunkSize: 128 * 1024 });
    case 'gzip':
      return zlib.createGzip({ level: 1, chunkSize: 128 * 1024 });
    case 'none':
      return new PassThrough();
  }
}

/**
 * `data` compressed at once, as createCompressor would stream it: one zstd frame (which, written
 * whole, also records the content size) or one gzip member, at the same levels.
 */
export function compressWhole(kind: Compression, data: Buffer): Buffer {
  switch (kind) {
    case 'zstd':
      return zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
    case 'gzip':
      return zlib.gzipSync(data, { level: 1 });
    case 'none':
      return data;
  }
}

/** zlib's default output buffer. */
const defaultChunkBytes = 16 * 1024;

/**
 * `expectedBytes`: the file's uncompressed size when known. The output buffer (16 KiB by default)
 * is sized down to it, since a restore of thousands of small tables decompresses thousands of
 * files of a few hundred bytes, each allocating its own buffer.
 */
export function createDecompressor(kind: Compression, expectedBytes?: number | null): Transform {
  const chunkSize = expectedBytes == null ? undefined : Math.min(defaultChunkBytes, Math.max(expectedBytes, zlib.constants.Z_MIN_CHUNK, 1024));
  const options = chunkSize === undefined ? {} : { chunkSize };
  switch (kind) {
    case 'zstd':
      return zlib.createZstdDecompress(options);
    case 'gzip':
      return zlib.createGunzip(options);
    case 'none':
      return new PassThrough();
  }
}

/** The compression a data file's name implies (`.zst`, `.gz`, or neither). */
export function compressionOfFile(name: string): Compression {
  if (name.endsWith('.zst')) return 'zstd';
  if (name.endsWith('.gz')) return 'gzip';
  return 'none';
}
