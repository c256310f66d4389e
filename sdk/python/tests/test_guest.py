"""The glue inside the component, run natively against the bindings componentize-py generates
for the contract (its `bindings` command: the same types, imports that are stubs)."""

import importlib
import os
import subprocess
import sys
import tempfile
import unittest

from loom_bundle import Bundle, Change, Manifest, NextStep, refuse
from loom_bundle.build import WIT_DIR, BuildError, find_componentize_py


def bindings_or_skip(case):
    try:
        exe = find_componentize_py(None)
    except BuildError as e:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"CI must have componentize-py: {e}")
        raise unittest.SkipTest(f"componentize-py is not installed: {e}")
    out = tempfile.mkdtemp(prefix="loom-bindings-")
    subprocess.run([exe, "-d", str(WIT_DIR), "-w", "bundle", "bindings", out], check=True, capture_output=True)
    sys.path.insert(0, out)
    case.addClassCleanup(sys.path.remove, out)
    for name in [m for m in sys.modules if m.startswith(("wit_world", "componentize_py_types", "loom_bundle._guest"))]:
        del sys.modules[name]
    return importlib.import_module("loom_bundle._guest")


class Sample(Bundle):
    def manifest(self):
        return Manifest("sample", "1").phases("a").needs_command("test")

    def next(self, tick):
        if tick.seq == 2:
            return NextStep.gate("g", 42)
        return step_that_fails(tick)

    def apply(self, tick, step, outcome):
        if step == "refuse":
            refuse("not a plan")
        if step == "crash":
            raise RuntimeError("apply broke")
        return [Change.phase("a"), Change.put_fact("k", "1", [1]), Change.note("n")]

    def check(self, tick):
        return []


class RendersBadly(Sample):
    def next(self, tick):
        from loom_bundle.checks import render
        from loom_bundle import Template

        return render(Template("t", "{{x"), [])


def step_that_fails(tick):
    raise ValueError(f"no step for tick {tick.seq}")


class Glue(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = bindings_or_skip(cls)
        from componentize_py_types import Err
        from wit_world.imports import types as w

        cls.Err, cls.w = Err, w
        cls.Logic, cls.Rules = cls.g.exports_for(Sample)

    def tick(self, seq):
        return self.w.TickToken(1, seq, 1000)

    def test_an_exception_is_raised_as_the_typed_failure_with_its_traceback(self):
        with self.assertRaises(self.Err) as e:
            self.Logic().next(self.tick(1))
        f = e.exception.value
        self.assertIsInstance(f, self.w.Failure)
        self.assertEqual(f.message, "ValueError: no step for tick 1")
        self.assertIn("in step_that_fails", f.traceback)

    def test_a_value_of_the_wrong_type_is_a_failure_not_a_trap(self):
        with self.assertRaises(self.Err) as e:
            self.Logic().next(self.tick(2))
        self.assertEqual(e.exception.value.message, "TypeError: gate g's summary is int 42, not str")

    def test_apply_tells_a_refusal_from_a_crash(self):
        outcome = self.w.Outcome_Agent(self.w.AgentReply("x", [], None))
        with self.assertRaises(self.Err) as e:
            self.Logic().apply(self.tick(3), "refuse", outcome)
        self.assertEqual(e.exception.value, self.w.ApplyError_Refused("not a plan"))
        with self.assertRaises(self.Err) as e:
            self.Logic().apply(self.tick(3), "crash", outcome)
        self.assertIsInstance(e.exception.value, self.w.ApplyError_Failed)
        self.assertIn("RuntimeError: apply broke", e.exception.value.value.traceback)
        changes = self.Logic().apply(self.tick(3), "ok", outcome)
        self.assertEqual(changes, [self.w.Change_Phase("a"), self.w.Change_PutFact(self.w.FactWrite("k", "1", "[1]")), self.w.Change_Note("n")])

    def test_the_manifest_and_the_outcomes_convert(self):
        m = self.Logic().manifest()
        self.assertEqual((m.name, m.phases, m.needs.commands), ("sample", ["a"], ["test"]))
        d = self.g.outcome_in(self.w.Outcome_Gate(self.w.GateDecision("g", True, self.w.Decider.HUMAN, "ann", None, "- x")))
        self.assertEqual((d.decider.value, d.edited), ("human", "- x"))
        self.assertEqual(self.Rules().check(self.tick(1)), [])

    def test_a_traceback_is_formatted_without_reading_a_file(self):
        # Inside the component a file access traps (stub WASI): the sources are read at build
        # time, and nothing is read when a traceback is formatted.
        import builtins
        import linecache
        from unittest import mock

        from loom_bundle.bundle import call_next

        saved = linecache.updatecache, dict(linecache.cache)
        linecache.clearcache()
        self.g.freeze_sources(("loom_bundle", "tests"))

        def no_files(*a, **k):
            raise AssertionError(f"a file was read: {a[:1]}")

        try:
            with mock.patch.object(builtins, "open", no_files), mock.patch("os.stat", no_files):
                kind, f = call_next(Sample(), self.g.tick_in(self.tick(1)))
                _, g = call_next(RendersBadly(), self.g.tick_in(self.tick(1)))
        finally:
            linecache.updatecache = saved[0]
            linecache.cache.clear()
            linecache.cache.update(saved[1])
        self.assertEqual(kind, "failed")
        self.assertIn('raise ValueError(f"no step for tick {tick.seq}")', f.traceback)
        self.assertIn('raise ValueError(f"template {t.id!r} has an unclosed {{{{")', g.traceback, "an SDK frame has its line too")

    def test_the_host_view_converts_what_the_host_returns(self):
        from wit_world.imports import view as wview

        w = self.w
        saved = wview.latest_gate, wview.ledger_of
        wview.latest_gate = lambda name: w.Gate(7, name, w.GateStatus.APPROVED, w.Decider.HUMAN, 6, "ann", None)
        wview.ledger_of = lambda step: [w.LedgerEntry(f"r1/{step}#1", step, "command", 1, "done", "ok", 8)]
        try:
            v = self.g.HostView()
            g = v.latest_gate("approve")
            self.assertTrue(g.approved)
            self.assertEqual((g.row(), g.decider.value), ("gate:7", "human"))
            self.assertEqual(v.ledger_of("verify")[0].row(), "ledger:r1/verify#1#1")
        finally:
            wview.latest_gate, wview.ledger_of = saved


if __name__ == "__main__":
    unittest.main()
