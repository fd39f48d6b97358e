// The language's own cost of handing out items one `await` at a time, with no I/O: `for await`
// over an async iterator whose next() returns an already-resolved promise (as lines() does when
// the line is buffered), and a bare `await` (two per frame for readExactly). Run by bench/run.mjs
// in each runtime; prints `RESULT {"forAwaitNs":…,"awaitNs":…}`.
const ITEMS = Number(globalThis.process?.argv?.[2] ?? globalThis.Deno?.args?.[0] ?? 5_000_000);
const values = Array.from({ length: 1024 }, (_, i) => `line ${i}`);

function resolvedIterator(count) {
  let i = 0;
  const done = { done: true, value: undefined };
  const iterator = {
    next: () => Promise.resolve(i < count ? { done: false, value: values[i++ & 1023] } : done),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

async function forAwaitNs() {
  let kept = 0;
  const started = performance.now();
  for await (const value of resolvedIterator(ITEMS)) if (value.length > 0) kept++;
  return ((performance.now() - started) * 1e6) / kept;
}

async function awaitNs() {
  let kept = 0;
  const started = performance.now();
  for (let i = 0; i < ITEMS; i++) if ((await Promise.resolve(values[i & 1023])).length > 0) kept++;
  return ((performance.now() - started) * 1e6) / kept;
}

// Warm up once, then keep the better of three.
await forAwaitNs();
await awaitNs();
let best = { forAwaitNs: Infinity, awaitNs: Infinity };
for (let round = 0; round < 3; round++) {
  best = { forAwaitNs: Math.min(best.forAwaitNs, await forAwaitNs()), awaitNs: Math.min(best.awaitNs, await awaitNs()) };
}
console.log(`RESULT ${JSON.stringify(best)}`);
