import unittest

from loom_bundle import Bundle, Change, Manifest, NextStep, TickToken, refuse
from loom_bundle.bundle import call_apply, call_check, call_manifest, call_next
from loom_bundle.types import AgentReply

TICK = TickToken(1, 2, 3)


class Buggy(Bundle):
    def manifest(self):
        return Manifest("buggy", "1").phases("a")

    def next(self, tick):
        return helper_that_divides(0)

    def apply(self, tick, step, outcome):
        if step == "refuse":
            refuse("the reply is not a plan")
        if step == "dict":
            return {"phase": "b"}
        if step == "mixed":
            return [Change.phase("b"), "b"]
        return [Change.phase("b")]

    def check(self, tick):
        refuse("not here")


def entry_frame(n):
    # Distinct frames (a plain recursion is folded by `traceback` into one repeated line).
    return [entry_frame, lambda k: entry_frame(k)][n % 2](n - 1) if n else raising_frame()


def raising_frame():
    raise ValueError("x" * 50_000)


def helper_that_divides(n):
    return 1 / n


class Calls(unittest.TestCase):
    def test_an_exception_becomes_a_failure_with_its_traceback(self):
        kind, f = call_next(Buggy(), TICK)
        self.assertEqual(kind, "failed")
        self.assertEqual(f.message, "ZeroDivisionError: division by zero")
        self.assertIn("in helper_that_divides", f.traceback)
        self.assertIn("return 1 / n", f.traceback)

    def test_the_traceback_starts_at_the_bundle_and_shows_the_chain(self):
        class Chained(Buggy):
            def next(self, tick):
                try:
                    helper_that_divides(0)
                except ZeroDivisionError as e:
                    raise LookupError("no step") from e

        kind, f = call_next(Chained(), TICK)
        self.assertEqual(f.message, "LookupError: no step")
        self.assertNotIn("in _run", f.traceback)
        first, second = f.traceback.split("The above exception was the direct cause of the following exception:")
        self.assertIn('in helper_that_divides\n    return 1 / n\nZeroDivisionError: division by zero', first)
        self.assertIn('raise LookupError("no step") from e\nLookupError: no step', second)

    def test_refuse_in_apply_is_the_typed_refusal(self):
        self.assertEqual(call_apply(Buggy(), TICK, "refuse", AgentReply("x")), ("refused", "the reply is not a plan"))
        self.assertEqual(call_apply(Buggy(), TICK, "ok", AgentReply("x")), ("ok", [Change.phase("b")]))

    def test_refuse_outside_apply_is_a_failure_saying_so(self):
        kind, f = call_check(Buggy(), TICK)
        self.assertEqual(kind, "failed")
        self.assertIn("refuse() is for apply only; check() called it", f.message)

    def test_a_return_value_of_the_wrong_type_says_what_was_expected(self):
        kind, f = call_apply(Buggy(), TICK, "dict", AgentReply("x"))
        self.assertEqual(kind, "failed")
        self.assertIn("apply() returned dict {'phase': 'b'}; it returns a list of Change", f.message)
        kind, f = call_apply(Buggy(), TICK, "mixed", AgentReply("x"))
        self.assertIn("apply() in its list returned str 'b'", f.message)

        class NoStep(Buggy):
            def next(self, tick):
                return "finish"

        kind, f = call_next(NoStep(), TICK)
        self.assertIn("next() returned str 'finish'; it returns a NextStep", f.message)
        self.assertEqual(call_manifest(Buggy())[0], "ok")

    def test_a_long_traceback_keeps_where_it_came_in_and_where_it_raised(self):
        class Deep(Buggy):
            def next(self, tick):
                return entry_frame(400)

        kind, f = call_next(Deep(), TICK)
        self.assertEqual(kind, "failed")
        self.assertLessEqual(len(f.traceback), 16_100)
        self.assertIn("characters cut", f.traceback)
        self.assertIn("in next", f.traceback[:4_000])
        self.assertIn("raising_frame", f.traceback[-3_000:])
        self.assertIn("ValueError: xxxx", f.traceback[-1_100:])
        self.assertLessEqual(len(f.message), 4_000)

    def test_next_step_constructors(self):
        s = NextStep.agent("plan", "planner", "plan", {"task": "t", "n": 3, "ok": True, "items": ["a"]})
        self.assertEqual([type(a.value) for a in s.effect.args], [str, int, bool, list])
        with self.assertRaisesRegex(TypeError, "template argument 'x' is a dict"):
            NextStep.agent("plan", "planner", "plan", {"x": {}})
        self.assertEqual(Change.put_fact("k", "1", {"b": 1, "a": [1, "é"]}).value, '{"a":[1,"é"],"b":1}')


if __name__ == "__main__":
    unittest.main()
