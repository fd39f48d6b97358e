/** Bytes the runtimes hand out and hangup makes: always over an ArrayBuffer, never a SharedArrayBuffer. */
export type Bytes = Uint8Array<ArrayBuffer>;

const EMPTY = new Uint8Array(0);
/** The chunk list of every empty queue: an idle connection holds no array of its own. */
const NO_CHUNKS: readonly Bytes[] = Object.freeze([]);

/**
 * The buffer `all()` joins chunks into: filled up to `end`; `view` is the queue's first chunk
 * when that chunk is this buffer's bytes from `viewStart` to `end`, so later chunks can be
 * appended behind it in place.
 */
interface JoinedBuffer {
  buffer: Bytes;
  end: number;
  view: Bytes;
  viewStart: number;
  /** The queue's `consumed` when last joined: unchanged, the joined bytes still begin an open message. */
  consumedAt: number;
}

/** Where the current search stopped; made on the first search, so a queue that is never searched pays nothing. */
interface ScanState {
  valid: boolean;
  /** Chunk index (absolute) and its byte offset. */
  chunk: number;
  base: number;
  scanned: number;
  delimiter: Uint8Array | undefined;
}

/**
 * The unread bytes of a connection: a queue of chunks with a running length.
 * Taking n bytes copies at most once; searching resumes where the last search
 * stopped, so a long line arriving in many chunks costs linear time.
 */
export class ChunkQueue {
  #chunks: Bytes[] = NO_CHUNKS as Bytes[];
  #head = 0;
  /**
   * Bytes of the first chunk already taken. Taking from the front moves this offset instead of
   * making a new view of the rest, so `take` allocates only the view it returns and `skip` nothing.
   */
  #offset = 0;
  /** Bytes held. */
  length = 0;
  /** Bytes taken so far, ever: a reader that looked ahead checks nobody else took any since. */
  consumed = 0;
  #scan: ScanState | undefined;
  /** The buffer `all()` joins chunks into, and how much of it is filled. */
  #joined: JoinedBuffer | undefined;

  push(chunk: Bytes): void {
    if (chunk.length === 0) return;
    if (this.#chunks === NO_CHUNKS) this.#chunks = [chunk];
    else this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first chunk, not consumed. */
  first(): Bytes | undefined {
    this.#settle();
    return this.#chunks[this.#head];
  }

  /** The byte at `offset` (offset < length), not consumed. */
  byteAt(offset: number): number {
    this.#settle();
    for (let i = this.#head;; i++) {
      const chunk = this.#chunks[i]!;
      if (offset < chunk.length) return chunk[offset]!;
      offset -= chunk.length;
    }
  }

  /** Removes and returns the first chunk. */
  shift(): Bytes {
    this.#settle();
    const chunk = this.#chunks[this.#head]!;
    this.#chunks[this.#head++] = EMPTY;
    this.length -= chunk.length;
    this.consumed += chunk.length;
    this.#consumed();
    return chunk;
  }

  /** Removes and returns exactly `n` bytes (n ≤ length). */
  take(n: number): Bytes {
    if (n === 0) return EMPTY;
    const first = this.#chunks[this.#head]!;
    const start = this.#offset;
    if (first.length - start > n) {
      this.#offset = start + n;
      this.length -= n;
      this.consumed += n;
      this.#consumed();
      return first.subarray(start, start + n);
    }
    if (first.length - start === n) return this.shift();
    const out = this.copyFront(n);
    this.discard(n);
    return out;
  }

  /** Bytes left in the first chunk (0 when empty). */
  firstLength(): number {
    const chunk = this.#chunks[this.#head];
    return chunk === undefined ? 0 : chunk.length - this.#offset;
  }

  /** Bytes in the second chunk (0 when there is none). */
  secondLength(): number {
    return this.#chunks[this.#head + 1]?.length ?? 0;
  }

  /**
   * Whether the first chunk is what `all()` joined last and nothing was taken since: the bytes of
   * a message still growing, which joining again appends to in place.
   */
  firstIsJoined(): boolean {
    const joined = this.#joined;
    return joined !== undefined && joined.view === this.#chunks[this.#head] && joined.consumedAt === this.consumed;
  }

  /** A copy of the first `n` bytes (n ≤ length) in a buffer of its own, not consumed. */
  copyFront(n: number): Bytes {
    const out = new Uint8Array(n);
    let filled = 0;
    let start = this.#offset;
    for (let i = this.#head; filled < n; i++) {
      const chunk = this.#chunks[i]!;
      const end = Math.min(chunk.length, start + n - filled);
      out.set(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end), filled);
      filled += end - start;
      start = 0;
    }
    return out;
  }

  /** Removes the first `n` bytes (n ≤ length) without returning them. */
  discard(n: number): void {
    this.length -= n;
    this.consumed += n;
    while (n > 0) {
      const first = this.#chunks[this.#head]!;
      const left = first.length - this.#offset;
      if (n < left) {
        this.#offset += n;
        break;
      }
      this.#chunks[this.#head++] = EMPTY;
      this.#offset = 0;
      n -= left;
    }
    this.#consumed();
  }

  /**
   * Every byte held, as one view, not consumed. Chunks are joined into a buffer with room to
   * spare, and later chunks are appended to it, so asking again after each arrival costs
   * linear time in all. Memory once handed out is never written again.
   */
  all(capacity: number = this.length * 2): Bytes {
    this.#settle();
    const count = this.#chunks.length - this.#head;
    if (count === 0) return EMPTY;
    let head = this.#chunks[this.#head]!;
    if (count === 1) return head;
    const joined = this.#joined;
    const rest = this.length - head.length;
    let start: number;
    // Compared by identity, not by `.buffer`: on Bun reading `.buffer` allocates an ArrayBuffer.
    if (joined && head === joined.view && joined.end + rest <= joined.buffer.length) {
      start = joined.viewStart;
    } else {
      const buffer = new Uint8Array(Math.max(capacity, this.length, 1024));
      buffer.set(head);
      this.#joined = { buffer, end: head.length, view: EMPTY, viewStart: 0, consumedAt: 0 };
      start = 0;
    }
    const target = this.#joined!;
    for (let i = this.#head + 1; i < this.#chunks.length; i++) {
      target.buffer.set(this.#chunks[i]!, target.end);
      target.end += this.#chunks[i]!.length;
    }
    head = target.buffer.subarray(start, target.end);
    target.view = head;
    target.viewStart = start;
    target.consumedAt = this.consumed;
    this.#chunks = [head];
    this.#head = 0;
    if (this.#scan) this.#scan.valid = false;
    return head;
  }

  /** Removes and returns every byte held. */
  takeAll(): Bytes {
    return this.take(this.length);
  }

  /**
   * The offset of the first `delimiter` that ends within the first `limit` bytes,
   * or -1. Repeated calls between consumptions resume where the previous one stopped.
   */
  indexOf(delimiter: Uint8Array, limit: number): number {
    this.#settle();
    const scan = (this.#scan ??= { valid: false, chunk: 0, base: 0, scanned: 0, delimiter: undefined });
    if (!scan.valid || delimiter !== scan.delimiter) {
      scan.valid = true;
      scan.chunk = this.#head;
      scan.base = 0;
      scan.scanned = 0;
      scan.delimiter = delimiter;
    }
    const end = Math.min(this.length, limit);
    const lastStart = end - delimiter.length;
    const first = delimiter[0]!;
    let index = Math.max(scan.chunk, this.#head);
    let base = index === scan.chunk ? scan.base : 0;
    const from = scan.scanned;
    while (index < this.#chunks.length && base <= lastStart) {
      const chunk = this.#chunks[index]!;
      let local = Math.max(0, from - base);
      while (local < chunk.length && base + local <= lastStart) {
        const hit = chunk.indexOf(first, local);
        if (hit < 0 || base + hit > lastStart) break;
        if (this.#matches(index, hit, delimiter)) return base + hit;
        local = hit + 1;
      }
      if (base + chunk.length > lastStart + 1) break;
      base += chunk.length;
      index++;
    }
    // Next search starts where this one could not look yet.
    const resumeAt = Math.max(0, lastStart + 1);
    while (index > this.#head && base > resumeAt) {
      index--;
      base -= this.#chunks[index]!.length;
    }
    scan.chunk = index;
    scan.base = base;
    scan.scanned = Math.max(scan.scanned, resumeAt);
    return -1;
  }

  #matches(index: number, local: number, delimiter: Uint8Array): boolean {
    let chunk = this.#chunks[index]!;
    for (let i = 1; i < delimiter.length; i++) {
      local++;
      while (local >= chunk.length) {
        index++;
        if (index >= this.#chunks.length) return false;
        local -= chunk.length;
        chunk = this.#chunks[index]!;
      }
      if (chunk[local] !== delimiter[i]) return false;
    }
    return true;
  }

  /** Makes the first chunk start at the first unread byte, for the code that walks chunks. */
  #settle(): void {
    if (this.#offset === 0) return;
    const chunk = this.#chunks[this.#head]!;
    const rest = chunk.subarray(this.#offset);
    this.#chunks[this.#head] = rest;
    const joined = this.#joined;
    if (joined !== undefined && chunk === joined.view) {
      joined.view = rest;
      joined.viewStart += this.#offset;
    }
    this.#offset = 0;
  }

  #consumed(): void {
    if (this.#scan) this.#scan.valid = false;
    if (this.#head === this.#chunks.length) {
      this.#chunks = NO_CHUNKS as Bytes[];
      this.#head = 0;
      this.#joined = undefined;
    } else if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
