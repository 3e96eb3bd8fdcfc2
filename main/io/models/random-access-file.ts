// Reads byte ranges of a file through one fs handle. Weight files are opened this way so a
// 2.5 GB model costs a header and one tensor at a time in memory, never the whole file.
import { open, type FileHandle } from 'node:fs/promises';
import { AppError } from '../../../common/contract/errors';

export class RandomAccessFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<RandomAccessFile> {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      return new RandomAccessFile(path, handle, st.size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Exactly `length` bytes at `offset`; a short read means the file is shorter than its index says. */
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new AppError(
        'corrupt_file',
        `${this.path}: bytes ${offset}..${offset + length} are past the end of the file (${this.size} bytes): truncated?`,
      );
    }
    const buf = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new AppError('corrupt_file', `${this.path}: unexpected end of file at ${offset + done}`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
