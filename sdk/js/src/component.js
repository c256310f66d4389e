// What a built component imports, read from its binary: loom grants a bundle `loom:bundle`
// interfaces only, and refuses a component that imports anything else (WASI above all) when it
// loads it. The build reads the top-level import section itself, so that refusal comes at
// build time, naming the import, rather than at a run's first tick.

const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const IMPORT_SECTION = 10;

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }
  byte() {
    if (this.at >= this.bytes.length) throw new RangeError("the component ends in the middle of a section");
    return this.bytes[this.at++];
  }
  u32() {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new RangeError("a malformed LEB128 number");
  }
  string() {
    const len = this.u32();
    const s = this.bytes.subarray(this.at, this.at + len);
    this.at += len;
    return new TextDecoder().decode(s);
  }
}

/** The names a component imports at its top level (e.g. "loom:bundle/view@0.2.0"). */
export function componentImports(bytes) {
  if (!COMPONENT_PREAMBLE.every((b, i) => bytes[i] === b)) {
    throw new Error("not a WebAssembly component (layer 1): the preamble differs");
  }
  const r = new Reader(bytes);
  r.at = COMPONENT_PREAMBLE.length;
  const names = [];
  while (r.at < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.at + size;
    if (id === IMPORT_SECTION) {
      for (let n = r.u32(); n > 0; n--) {
        names.push(importName(r));
        externDesc(r);
      }
    }
    r.at = end;
  }
  return names;
}

function importName(r) {
  const form = r.byte();
  const name = r.string();
  if (form === 0x01 && r.byte() === 0x01) r.string(); // a version suffix, already in the name
  return name;
}

function externDesc(r) {
  const sort = r.byte();
  if (sort === 0x00) {
    r.byte(); // 0x11: a core module
    r.u32();
  } else if (sort === 0x02) {
    r.byte(); // value bound: an index or a type; both one LEB here
    r.u32();
  } else if (sort === 0x03) {
    if (r.byte() === 0x00) r.u32(); // eq <typeidx>; 0x01 is `sub resource`, with nothing after
  } else {
    r.u32(); // func, component, instance: a type index
  }
}

/** The imports loom would refuse: anything but `loom:bundle/...`. */
export function foreignImports(bytes) {
  return componentImports(bytes).filter((name) => !name.startsWith("loom:bundle/"));
}
