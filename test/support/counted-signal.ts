/** An AbortSignal that counts the abort listeners on it: now, at most at once, and ever added. */
export function countedSignal(): { controller: AbortController; listeners: () => number; most: () => number; added: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  let count = 0;
  let most = 0;
  let adds = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  const seen = new Set<unknown>();
  Object.assign(signal, {
    addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: AddEventListenerOptions) {
      if (type === "abort" && !seen.has(listener)) (seen.add(listener), count++, adds++, (most = Math.max(most, count)));
      add(type, listener, options);
    },
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      if (type === "abort" && seen.delete(listener)) count--;
      remove(type, listener);
    },
  });
  return { controller, listeners: () => count, most: () => most, added: () => adds };
}
