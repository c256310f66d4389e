import unittest
from pathlib import Path

from loom_bundle.build import WIT_DIR

CONTRACT = Path(__file__).resolve().parents[3] / "wit" / "0.2.0" / "bundle.wit"


class VendoredContract(unittest.TestCase):
    def test_the_sdk_builds_against_exactly_the_contract_in_wit(self):
        if not CONTRACT.exists():
            self.skipTest(f"not inside a loom checkout ({CONTRACT} is absent)")
        vendored = (WIT_DIR / "bundle.wit").read_text()
        self.assertEqual(
            vendored,
            CONTRACT.read_text(),
            "sdk/python/loom_bundle/wit/bundle.wit differs from wit/0.2.0/bundle.wit: copy it over",
        )
