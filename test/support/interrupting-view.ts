/**
 * A backup view that fires an abort when a restore starts reading a given data file: how the
 * tests interrupt a load at a known point. The load reads a data file's stored bytes with `get`
 * (a small file) or `read` (a streamed one), handing them to a load thread.
 */
import type { BackupView } from '../../src/lib/storage/encrypted-store.js';

/** `store`, calling `onDataFile(key)` whenever a data file (a key with `@` after its table, not an `.idx`) is opened for reading. */
export function watchingDataReads(store: BackupView, onDataFile: (key: string) => void): BackupView {
  const isData = (key: string): boolean => /@[^/]*@[^/]*$/.test(key) && !key.endsWith('.idx');
  return {
    ...store,
    read(key, options) {
      if (isData(key)) onDataFile(key);
      return store.read(key, options);
    },
    get(key, options) {
      if (isData(key)) onDataFile(key);
      return store.get(key, options);
    },
  };
}
