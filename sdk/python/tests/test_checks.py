import unittest

from loom_bundle import Arg, Decider, GateDecl, Manifest, Param, Risk, Setting, Step, Template
from loom_bundle.checks import manifest_problems, render


class ManifestProblems(unittest.TestCase):
    def test_a_sound_manifest_has_none(self):
        m = (
            Manifest("x", "1")
            .phases("a", "b")
            .step(Step("s", "a").agent("writer", "t"))
            .template(Template("t", "hi {{who}}").param(Param.text("who")))
            .needs_command("test")
            .setting(Setting.integer("rounds", 2))
        )
        self.assertEqual(manifest_problems(m), [])

    def test_each_problem_is_named(self):
        m = (
            Manifest("x", "1")
            .phases("a", "a")
            .step(Step("s", "nowhere").agent("writer", "missing"))
            .step(Step("uncertain:s", "a"))
            .gate(GateDecl("g", Decider.HUMAN, Risk.LOW))
            .gate(GateDecl("g", Decider.HUMAN, Risk.LOW))
            .template(Template("t", "{{undeclared}} and {{open").param(Param.text("p")))
            .needs_command("test", "test")
            .setting(Setting.integer("rounds", "two"))
        )
        got = "\n".join(manifest_problems(m))
        for want in [
            "phase 'a' is declared 2 times",
            "step 's' is in phase 'nowhere', which is not declared",
            "step 's' uses template 'missing', which is not declared",
            "step 'uncertain:s' starts with 'uncertain:'",
            "gate 'g' is declared 2 times",
            "template 't' uses {{undeclared}}",
            "needed command 'test' is declared 2 times",
            "setting 'rounds' is integer but its default is \"two\"",
        ]:
            self.assertIn(want, got)


class Render(unittest.TestCase):
    T = Template("t", "Fix {{what}} in {{n}} steps ({{careful}}):\n{{items}}").param(Param.text("what")).param(Param.integer("n")).param(Param.boolean("careful")).param(Param.text_list("items").optional())

    def test_it_renders_as_loom_does(self):
        args = [Arg("what", "median"), Arg("n", 2), Arg("careful", True), Arg("items", ["a", "b"])]
        self.assertEqual(render(self.T, args), "Fix median in 2 steps (yes):\n- a\n- b")

    def test_wrong_arguments_are_named(self):
        with self.assertRaisesRegex(ValueError, "parameter 'n' is integer, but the bundle passed text"):
            render(self.T, [Arg("what", "x"), Arg("n", "2"), Arg("careful", True)])
        with self.assertRaisesRegex(ValueError, "needs parameter 'careful'"):
            render(self.T, [Arg("what", "x"), Arg("n", 2)])
        with self.assertRaisesRegex(ValueError, "has no parameter 'extra'"):
            render(self.T, [Arg("extra", "x")])


if __name__ == "__main__":
    unittest.main()
