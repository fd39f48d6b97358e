/**
 * Property tests of the read helpers: for random bytes cut into random chunks that
 * arrive while the reader waits, every helper's result equals a one-shot parse of
 * the whole byte string. 10,000 cases per property.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Conn, createConn, LimitExceededError, UnexpectedEofError } from "../../src/index.ts";
import { describe, test } from "../support/harness.ts";
import { feedInChunks, scripted } from "../support/scripted-source.ts";

const RUNS = 10_000;
const TIMEOUT = 120_000;

/** Few distinct bytes, so delimiters, CR/LF and split UTF-8 sequences are frequent. */
const ALPHABET = [0x0a, 0x0d, 0x61, 0x62, 0x3b, 0xc3, 0xa9, 0xe2, 0x9c, 0x93, 0xf0, 0x9f];
const byte = fc.constantFrom(...ALPHABET);
const bytes = fc.array(byte, { maxLength: 160 }).map((a) => Uint8Array.from(a));
const cuts = fc.array(fc.integer({ min: 1, max: 24 }), { maxLength: 40 });
const highWaterMark = fc.integer({ min: 1, max: 64 });

/** A Conn whose bytes arrive chunk by chunk, interleaved with the reader, then EOF. */
async function withConn<T>(whole: Uint8Array, sizes: number[], hwm: number, consume: (conn: Conn) => Promise<T>): Promise<T> {
  const { source, sink } = scripted();
  const conn = createConn(source, { highWaterMark: hwm });
  const feeding = feedInChunks(sink, whole, sizes);
  const [result] = await Promise.all([consume(conn), feeding]);
  await conn.close();
  return result;
}

type Outcome = { bytes: number[] } | { text: string } | { eof: number[] } | "limit" | "end";

const list = (b: Uint8Array): number[] => Array.from(b);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe("read helpers over random chunkings (fast-check)", () => {
  test("peek shows exactly what the next read returns; the reads rebuild the whole", async () => {
    await fc.assert(
      fc.asyncProperty(bytes, cuts, highWaterMark, async (whole, sizes, hwm) => {
        const reads = await withConn(whole, sizes, hwm, async (conn) => {
          const out: number[] = [];
          for (let i = 0; i <= whole.length + 1; i++) {
            const peeked = await conn.peek();
            const read = await conn.read();
            assert.deepEqual(peeked, read);
            if (read === null) return out;
            out.push(...read);
          }
          throw new Error("more reads than bytes");
        });
        assert.deepEqual(reads, list(whole));
      }),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("readExactly returns the same slices as cutting the whole; the short tail is the partial", async () => {
    const sizes = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(bytes, cuts, highWaterMark, sizes, async (whole, chunking, hwm, wants) => {
        const expected: Outcome[] = [];
        let at = 0;
        for (const n of wants) {
          if (whole.length - at >= n) {
            expected.push({ bytes: list(whole.subarray(at, at + n)) });
            at += n;
          } else {
            expected.push({ eof: list(whole.subarray(at)) });
            break;
          }
        }
        const actual = await withConn(whole, chunking, hwm, async (conn) => {
          const out: Outcome[] = [];
          for (const n of wants) {
            try {
              out.push({ bytes: list(await conn.readExactly(n)) });
            } catch (err) {
              assert.ok(err instanceof UnexpectedEofError, String(err));
              out.push({ eof: list(err.partial) });
              assert.equal(await conn.read(), null);
              break;
            }
          }
          return out;
        });
        assert.deepEqual(actual, expected);
      }),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("readUntil splits like a one-shot search for the delimiter, with the same limit and EOF outcomes", async () => {
    const delimiter = fc.array(byte, { minLength: 1, maxLength: 3 }).map((a) => Uint8Array.from(a));
    await fc.assert(
      fc.asyncProperty(
        bytes,
        cuts,
        highWaterMark,
        delimiter,
        fc.integer({ min: 0, max: 48 }),
        async (whole, chunking, hwm, delim, extra) => {
          const maxBytes = delim.length + extra;
          const expected: Outcome[] = [];
          for (let at = 0;;) {
            const rest = whole.subarray(at);
            const hit = indexOf(rest, delim);
            if (hit >= 0 && hit + delim.length <= maxBytes) {
              expected.push({ bytes: list(rest.subarray(0, hit + delim.length)) });
              at += hit + delim.length;
            } else if (rest.length >= maxBytes) {
              expected.push("limit");
              break;
            } else {
              expected.push(rest.length === 0 ? "end" : { eof: list(rest) });
              break;
            }
          }
          const actual = await withConn(whole, chunking, hwm, async (conn) => {
            const out: Outcome[] = [];
            for (let i = 0; i <= whole.length + 1; i++) {
              try {
                const message = await conn.readUntil(delim, { maxBytes });
                if (message === null) {
                  out.push("end");
                  break;
                }
                out.push({ bytes: list(message) });
              } catch (err) {
                if (err instanceof LimitExceededError) {
                  out.push("limit");
                  const left = await conn.peek();
                  assert.ok(left !== null && left.length > 0, "the bytes stay buffered after the limit");
                } else {
                  assert.ok(err instanceof UnexpectedEofError, String(err));
                  out.push({ eof: list(err.partial) });
                }
                break;
              }
            }
            return out;
          });
          assert.deepEqual(actual, expected);
        },
      ),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("breaking out of lines() after k lines leaves exactly the bytes after those lines", async () => {
    const linesOnly = fc.array(fc.constantFrom(0x0a, 0x0d, 0x61, 0xc3, 0xa9), { maxLength: 120 }).map((a) => Uint8Array.from(a));
    await fc.assert(
      fc.asyncProperty(linesOnly, cuts, highWaterMark, fc.integer({ min: 0, max: 20 }), async (whole, chunking, hwm, k) => {
        let expectedRest = whole;
        for (let i = 0; i < k; i++) {
          const nl = expectedRest.indexOf(0x0a);
          if (nl < 0) {
            expectedRest = new Uint8Array(0);
            break;
          }
          expectedRest = expectedRest.subarray(nl + 1);
        }
        const rest = await withConn(whole, chunking, hwm, async (conn) => {
          let taken = 0;
          if (k > 0) {
            for await (const _ of conn.lines({ maxBytes: 1000 })) if (++taken >= k) break;
          }
          const out: number[] = [];
          for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) out.push(...chunk);
          return out;
        });
        assert.deepEqual(rest, list(expectedRest));
      }),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });

  test("lines equals splitting the whole at \\n (dropping a \\r before it), with the same limit", async () => {
    await fc.assert(
      fc.asyncProperty(bytes, cuts, highWaterMark, fc.integer({ min: 1, max: 40 }), async (whole, chunking, hwm, maxBytes) => {
        const expected: Outcome[] = [];
        for (let at = 0;;) {
          const rest = whole.subarray(at);
          const newline = rest.indexOf(0x0a);
          if (newline >= 0) {
            const length = newline > 0 && rest[newline - 1] === 0x0d ? newline - 1 : newline;
            if (length > maxBytes) {
              expected.push("limit");
              break;
            }
            expected.push({ text: decode(rest.subarray(0, length)) });
            at += newline + 1;
          } else {
            if (rest.length > maxBytes) expected.push("limit");
            else {
              if (rest.length > 0) expected.push({ text: decode(rest) });
              expected.push("end");
            }
            break;
          }
        }
        const actual = await withConn(whole, chunking, hwm, async (conn) => {
          const out: Outcome[] = [];
          try {
            for await (const line of conn.lines({ maxBytes })) out.push({ text: line });
            out.push("end");
          } catch (err) {
            assert.ok(err instanceof LimitExceededError, String(err));
            out.push("limit");
          }
          return out;
        });
        assert.deepEqual(actual, expected);
      }),
      { numRuns: RUNS },
    );
  }, { timeout: TIMEOUT });
});
