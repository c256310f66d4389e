// What loom checks about a bundle, done natively so a test finds it before a run does: the
// manifest's problems (as loom refuses them at load) and a template rendered from its
// arguments (as loom renders it before an agent call).

import { ParamType, argType } from "./types.js";

export const NAME_BYTES_MAX = 128;
const UNCERTAIN_PREFIX = "uncertain:";
// UTF-8 length by code point: QuickJS inside the component has no TextEncoder.
function bytes(s) {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
const shown = (names) => (names.length ? names.join(", ") : "none");
const q = JSON.stringify;

/** Every problem in manifest `m`, each naming the item and what to fix; empty when sound. */
export function manifestProblems(m) {
  const out = [];
  name(out, "the bundle's name", m.name);
  name(out, "the bundle's version", m.version);
  if (!m.phaseNames.length) {
    out.push("it declares no phases; a run starts in the first phase, so declare at least one");
  }
  for (const p of m.phaseNames) name(out, `phase ${q(p)}`, p);
  dups(out, "phase", m.phaseNames);
  const ids = m.templates.map((t) => t.id);
  for (const s of m.steps) {
    const what = `step ${q(s.name)}`;
    name(out, what, s.name);
    reserved(out, what, s.name);
    if (!m.phaseNames.includes(s.phase)) {
      out.push(`${what} is in phase ${q(s.phase)}, which is not declared (phases: ${shown(m.phaseNames)})`);
    }
    if ((s.role === null) !== (s.template === null)) {
      out.push(`${what} names a role or a template but not both; an agent step names both`);
    }
    if (s.template !== null && !ids.includes(s.template)) {
      out.push(`${what} uses template ${q(s.template)}, which is not declared (templates: ${shown(ids)})`);
    }
  }
  dups(out, "step", m.steps.map((s) => s.name));
  for (const g of m.gates) {
    name(out, `gate ${q(g.name)}`, g.name);
    reserved(out, `gate ${q(g.name)}`, g.name);
  }
  dups(out, "gate", m.gates.map((g) => g.name));
  for (const r of m.rules) name(out, `rule ${q(r.id)}`, r.id);
  dups(out, "rule", m.rules.map((r) => r.id));
  for (const t of m.templates) template(out, t);
  dups(out, "template", ids);
  for (const c of m.commands) name(out, `needed command ${q(c)}`, c);
  dups(out, "needed command", m.commands);
  for (const s of m.settings) {
    name(out, `setting ${q(s.key)}`, s.key);
    if (s.default !== null && !valueHasType(s.default, s.type)) {
      out.push(`setting ${q(s.key)} is ${s.type} but its default is ${q(s.default)}`);
    }
  }
  dups(out, "setting", m.settings.map((s) => s.key));
  return out;
}

export function valueHasType(v, type) {
  switch (type) {
    case ParamType.TEXT:
      return typeof v === "string";
    case ParamType.INTEGER:
      return Number.isSafeInteger(v);
    case ParamType.BOOLEAN:
      return typeof v === "boolean";
    default:
      return Array.isArray(v) && v.every((x) => typeof x === "string");
  }
}

/** The prompt loom would send for template `t` and `args` ([{name, value}]), or an Error
 * saying which argument is wrong. */
export function render(t, args) {
  const params = new Map(t.params.map((p) => [p.name, p]));
  for (const a of args) {
    const p = params.get(a.name);
    if (p === undefined) {
      throw new Error(`template ${q(t.id)} has no parameter ${q(a.name)} (it takes: ${shown([...params.keys()])})`);
    }
    const got = argType(a.value, a.name);
    if (got !== p.type) {
      throw new Error(`template ${q(t.id)} parameter ${q(p.name)} is ${p.type}, but the bundle passed ${got}`);
    }
  }
  const given = new Map(args.map((a) => [a.name, a.value]));
  for (const p of t.params) {
    if (p.required && !given.has(p.name)) {
      throw new Error(`template ${q(t.id)} needs parameter ${q(p.name)} (${p.type}), which the bundle did not pass`);
    }
  }
  let out = "";
  let rest = t.body;
  for (let at = rest.indexOf("{{"); at >= 0; at = rest.indexOf("{{")) {
    out += rest.slice(0, at);
    const end = rest.indexOf("}}", at);
    if (end < 0) throw new Error(`template ${q(t.id)} has an unclosed {{`);
    const used = rest.slice(at + 2, end).trim();
    if (!params.has(used)) throw new Error(`template ${q(t.id)} uses {{${used}}}, which is not one of its parameters`);
    if (given.has(used)) out += renderValue(given.get(used));
    rest = rest.slice(end + 2);
  }
  return out + rest;
}

function renderValue(v) {
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.map((x) => `- ${x}`).join("\n");
  return String(v);
}

function template(out, t) {
  const what = `template ${q(t.id)}`;
  name(out, what, t.id);
  for (const p of t.params) name(out, `a parameter of ${what}`, p.name);
  dups(out, `${what}: parameter`, t.params.map((p) => p.name));
  const names = t.params.map((p) => p.name);
  let rest = t.body;
  for (let at = rest.indexOf("{{"); at >= 0; at = rest.indexOf("{{")) {
    const end = rest.indexOf("}}", at);
    if (end < 0) {
      out.push(`${what} has a {{ in its body that is never closed with }}`);
      return;
    }
    const used = rest.slice(at + 2, end).trim();
    if (!names.includes(used)) {
      out.push(`${what} uses {{${used}}} in its body, which is not one of its parameters (${shown(names)})`);
    }
    rest = rest.slice(end + 2);
  }
}

function name(out, what, text) {
  if (typeof text !== "string" || !text.trim()) {
    out.push(`${what} is empty; give it a name`);
  } else if (bytes(text) > NAME_BYTES_MAX) {
    out.push(`${what.slice(0, 60)} is ${bytes(text)} bytes long, over ${NAME_BYTES_MAX}; shorten it`);
  }
}

function reserved(out, what, text) {
  if (typeof text === "string" && text.startsWith(UNCERTAIN_PREFIX)) {
    out.push(`${what} starts with ${q(UNCERTAIN_PREFIX)}, which loom reserves for the gates it opens itself`);
  }
}

function dups(out, kind, names) {
  const counts = new Map();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  for (const [n, times] of [...counts].sort()) {
    if (times > 1) out.push(`${kind} ${q(n)} is declared ${times} times; ids must be unique`);
  }
}
