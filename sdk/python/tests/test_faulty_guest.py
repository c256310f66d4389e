import unittest

from loom_bundle.testing import Driver

from tests.guest.faulty import Faulty


class FaultyGuest(unittest.TestCase):
    def test_without_a_mode_it_finishes(self):
        self.assertEqual(Driver(Faulty, "tidy").reply("worker", "ok").run().expect("done").phases, ["work", "done"])

    def test_each_mode_raises_where_it_says(self):
        for where in ("next", "apply", "check"):
            t = Driver(Faulty, f"raise in {where}").reply("worker", "ok").run().expect("stopped")
            self.assertEqual(t.fault.message, f"ZeroDivisionError: the bundle divided by zero in {where}")
            self.assertIn("in fail_here", t.fault.traceback)
