// State with subscribers, and a bus for live events. Pages subscribe and get an "off" function
// back, which the router calls when the page is left.

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      state = { ...state, ...(typeof patch === "function" ? patch(state) : patch) };
      for (const fn of [...listeners]) fn(state);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

const handlers = new Map();

export const bus = {
  /** Call fn(data, frame) for every `name` event; returns the function that stops it. */
  on(name, fn) {
    if (!handlers.has(name)) handlers.set(name, new Set());
    handlers.get(name).add(fn);
    return () => handlers.get(name)?.delete(fn);
  },
  emit(name, data, frame) {
    for (const fn of [...(handlers.get(name) || [])]) {
      try {
        fn(data, frame);
      } catch (err) {
        console.warn(`handler of ${name} failed`, err);
      }
    }
  },
};
