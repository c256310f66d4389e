// The manifest and its builders: what a bundle declares about itself. Each builder method
// returns the object it was called on, so a manifest reads as a list of declarations:
//
//   new Manifest("hello", "0.1.0")
//     .phases("draft", "approve", "done", "failed")
//     .step(new Step("draft", "draft", "A writer drafts a greeting.").agent("writer", "greet"))
//     .gate(new GateDecl("approve", Decider.HUMAN, Risk.LOW, "Send it?"))

import { BRAND, ParamType, toJson } from "./types.js";

/** A template parameter; build with `Param.text / integer / boolean / textList`. */
export class Param {
  constructor(name, type, required = true, doc = "") {
    Object.assign(this, { name, type, required, doc });
  }
  static text(name, doc = "") {
    return new Param(name, ParamType.TEXT, true, doc);
  }
  static integer(name, doc = "") {
    return new Param(name, ParamType.INTEGER, true, doc);
  }
  static boolean(name, doc = "") {
    return new Param(name, ParamType.BOOLEAN, true, doc);
  }
  /** Rendered as one `- item` line per element. */
  static textList(name, doc = "") {
    return new Param(name, ParamType.TEXT_LIST, true, doc);
  }
  optional() {
    this.required = false;
    return this;
  }
}

/** A prompt template; `body` uses `{{name}}` placeholders, checked against its params. */
export class Template {
  constructor(id, body) {
    Object.assign(this, { id, body, params: [] });
  }
  param(param) {
    this.params.push(param);
    return this;
  }
}

/** A step of `phase`. `.agent(role, template)` makes it an agent call; a command or an
 * apply-diff step names neither. */
export class Step {
  constructor(name, phase, doc = "") {
    Object.assign(this, { name, phase, doc, role: null, template: null });
  }
  agent(role, template) {
    this.role = role;
    this.template = template;
    return this;
  }
}

/** A gate, its default decider and risk (the policy dial reads both). `role`: the agent role
 * that decides it when the policy hands it to an agent (loom's default is `gatekeeper`).
 * `.editable()`: the decider may approve with an edited version of the summary, which
 * arrives as the decision's `edited`. */
export class GateDecl {
  constructor(name, decider, risk, doc = "") {
    Object.assign(this, { name, decider, risk, doc, role: null, editable: false });
  }
  decidedByRole(role) {
    this.role = role;
    return this;
  }
  editableSummary() {
    this.editable = true;
    return this;
  }
}

export class RuleDecl {
  constructor(id, doc = "") {
    Object.assign(this, { id, doc });
  }
}

/** A project setting (`[bundle]` in loom.toml) the bundle reads with `view.setting`.
 * `defaultValue` is a JS value (stored as JSON); `null` makes the setting required. */
export class Setting {
  constructor(key, type, defaultValue = null, doc = "") {
    Object.assign(this, { key, type, default: defaultValue, doc });
  }
  static text(key, defaultValue = null, doc = "") {
    return new Setting(key, ParamType.TEXT, defaultValue, doc);
  }
  static integer(key, defaultValue = null, doc = "") {
    return new Setting(key, ParamType.INTEGER, defaultValue, doc);
  }
  static boolean(key, defaultValue = null, doc = "") {
    return new Setting(key, ParamType.BOOLEAN, defaultValue, doc);
  }
  static textList(key, defaultValue = null, doc = "") {
    return new Setting(key, ParamType.TEXT_LIST, defaultValue, doc);
  }
  defaultJson() {
    return this.default === null ? null : toJson(this.default);
  }
}

export class Manifest {
  constructor(name, version) {
    Object.assign(this, {
      name,
      version,
      phaseNames: [],
      steps: [],
      gates: [],
      rules: [],
      templates: [],
      // names of the project commands the bundle runs (`[commands]` in loom.toml)
      commands: [],
      settings: [],
    });
    Object.defineProperty(this, BRAND, { value: "manifest" });
  }
  /** Sets the phases; the first is where a run starts. */
  phases(...phases) {
    this.phaseNames = phases;
    return this;
  }
  step(step) {
    this.steps.push(step);
    return this;
  }
  gate(gate) {
    this.gates.push(gate);
    return this;
  }
  rule(rule) {
    this.rules.push(rule);
    return this;
  }
  template(template) {
    this.templates.push(template);
    return this;
  }
  /** Declares project commands the bundle runs; loom checks the project configures them
   * before a task opens. */
  needsCommand(...names) {
    this.commands.push(...names);
    return this;
  }
  /** Declares a setting the bundle reads; loom checks the project's `[bundle]` table against
   * the declared ones (a misspelt key, a wrong type, a missing required one). */
  setting(setting) {
    this.settings.push(setting);
    return this;
  }

  findStep(name) {
    return this.steps.find((s) => s.name === name) ?? null;
  }
  findGate(name) {
    return this.gates.find((g) => g.name === name) ?? null;
  }
  findTemplate(id) {
    return this.templates.find((t) => t.id === id) ?? null;
  }
  findSetting(key) {
    return this.settings.find((s) => s.key === key) ?? null;
  }
}
