// Diagnostics. Lines are not part of the run's record: loom keeps the last few of each call
// and attaches them to the message of a fault in that call. Outside loom they go to stderr,
// or to what a test hands `useLog`.

let sink = (level, message) => {
  // Native only: inside the component the glue installs the host's log before any call.
  globalThis.console?.error?.(`${level}: ${message}`);
};

export function installLog(next) {
  sink = next;
}

/** Makes `next` the sink while `fn` runs (restores the previous one). */
export function useLog(next, fn) {
  const previous = sink;
  sink = next;
  try {
    return fn();
  } finally {
    sink = previous;
  }
}

function write(level, parts) {
  sink(level, parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" "));
}

export const debug = (...parts) => write("debug", parts);
export const info = (...parts) => write("info", parts);
export const warn = (...parts) => write("warn", parts);
export const error = (...parts) => write("error", parts);
