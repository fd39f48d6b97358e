import type { ChunkQueue } from "./chunk-queue.ts";
import { LimitExceededError } from "./errors.ts";

const NEWLINE_BYTE = 10;
const CARRIAGE_RETURN = 13;
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();
const NEWLINE = new Uint8Array([NEWLINE_BYTE]);

const tooLong = (maxBytes: number): LimitExceededError =>
  new LimitExceededError(maxBytes, `Cannot read: line longer than ${maxBytes} bytes`);

/**
 * Takes the next line of at most `maxBytes` bytes before its `\n` or `\r\n` from `queue`,
 * across chunks: the slow path of `lines()`, for a line that the one-chunk `LineCutter`
 * cannot see whole. `undefined`: no complete line yet. With `atEof`, the unterminated rest
 * is the last line, and `null` means nothing is left. A line over the limit throws
 * `LimitExceededError` and its bytes stay in the queue.
 */
export function takeLine(queue: ChunkQueue, maxBytes: number, atEof: boolean): string | null | undefined {
  const at = queue.indexOf(NEWLINE, maxBytes + 2);
  if (at >= 0) {
    if (at > maxBytes && !(at === maxBytes + 1 && queue.byteAt(maxBytes) === CARRIAGE_RETURN)) throw tooLong(maxBytes);
    const line = queue.take(at + 1);
    const end = at > 0 && line[at - 1] === CARRIAGE_RETURN ? at - 1 : at;
    return decoder.decode(line.subarray(0, end));
  }
  // maxBytes + 1 bytes without "\n" are too long already, unless the last could start a "\r\n".
  if (queue.length >= maxBytes + 2 || (queue.length === maxBytes + 1 && queue.byteAt(maxBytes) !== CARRIAGE_RETURN)) {
    throw tooLong(maxBytes);
  }
  if (!atEof) return undefined;
  if (queue.length === 0) return null;
  if (queue.length > maxBytes) throw tooLong(maxBytes);
  return decoder.decode(queue.takeAll());
}

/**
 * Cuts the complete lines at the start of one chunk, one line per call, from a single decode
 * of that chunk. It never touches the connection's buffer: the caller removes each line's
 * `bytes` as it hands the line out, so a loop that stops early leaves the rest buffered.
 *
 * Lines are cut lazily, as asked for, so a line costs one search and one slice, and no
 * array of lines or lengths is built per chunk.
 */
export class LineCutter {
  /** The decoded complete lines of the loaded chunk, through its last "\n". */
  #text = "";
  /** Where the next line starts, in `#text`, and in the chunk's bytes. */
  #from = 0;
  #byteFrom = 0;
  #chunk: Uint8Array = EMPTY;
  /** Every byte decoded to one character, so character offsets are byte offsets. */
  #oneBytePerChar = true;
  /** The byte length of the line the last `cut()` returned, with its line ending. */
  bytes = 0;

  /** True while lines of the loaded chunk remain. */
  get loaded(): boolean {
    return this.#from < this.#text.length;
  }

  /** Loads the complete lines at the start of `chunk`; false if it holds no "\n". */
  load(chunk: Uint8Array | undefined): boolean {
    this.#from = 0;
    this.#byteFrom = 0;
    const end = chunk === undefined ? 0 : chunk.lastIndexOf(NEWLINE_BYTE) + 1;
    if (end === 0) {
      this.#text = "";
      this.#chunk = EMPTY;
      return false;
    }
    // "\n" never occurs inside a UTF-8 sequence, so one decode equals a decode per line.
    this.#text = decoder.decode(chunk!.subarray(0, end));
    this.#chunk = chunk!;
    // As many characters as bytes means every byte decoded to one character (ASCII, or an
    // invalid byte as U+FFFD), so a line's byte length is its character length plus its "\n".
    this.#oneBytePerChar = this.#text.length === end;
    return true;
  }

  /** Forgets the loaded chunk (its bytes were taken by someone else). */
  clear(): void {
    this.#text = "";
    this.#from = 0;
    this.#chunk = EMPTY;
  }

  /**
   * The next line without its "\n" or "\r\n", its byte length in `bytes`; undefined when none
   * is left or the line is over `maxBytes` (the caller's slow path then reports the limit).
   */
  cut(maxBytes: number): string | undefined {
    const text = this.#text;
    const from = this.#from;
    if (from >= text.length) return undefined;
    const at = text.indexOf("\n", from);
    const bytes = this.#oneBytePerChar ? at + 1 - from : this.#chunk.indexOf(NEWLINE_BYTE, this.#byteFrom) + 1 - this.#byteFrom;
    const hasReturn = at > from && text.charCodeAt(at - 1) === CARRIAGE_RETURN;
    if (bytes - (hasReturn ? 2 : 1) > maxBytes) {
      this.clear();
      return undefined;
    }
    this.#from = at + 1;
    this.#byteFrom += bytes;
    this.bytes = bytes;
    return text.slice(from, hasReturn ? at - 1 : at);
  }
}
