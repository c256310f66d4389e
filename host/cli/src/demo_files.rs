//! `loom demo`: a throwaway git repository with a real bug and a failing test, driven by the
//! `code` bundle with canned replies, so a newcomer sees every part of loom work offline.

/// A small module with a real bug: the median of an even-length list is wrong.
pub const STATS_PY: &str = r#""""Small statistics helpers."""


def mean(values):
    """Return the arithmetic mean of a non-empty list of numbers."""
    return sum(values) / len(values)


def median(values):
    """Return the median of a non-empty list of numbers."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle]
"#;

/// Its tests; `test_median_even` fails until the bug is fixed.
pub const TEST_STATS_PY: &str = r#"import unittest

from stats import mean, median


class StatsTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(mean([1, 2, 3, 4]), 2.5)

    def test_median_odd(self):
        self.assertEqual(median([3, 1, 2]), 2)

    def test_median_even(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)


if __name__ == "__main__":
    unittest.main()
"#;

/// The scripted agents' replies, in the order the `code` bundle asks for them.
pub const REPLIES: &str = r####"# Canned replies for `loom demo`: the scripted provider answers each agent role from here,
# in order. See the README ("The scripted provider") for the format.

[[reply]]
role = "planner"
text = '''
1. median() returns the upper middle element for even-length lists; return the mean of the
   two middle elements instead.
2. Keep odd-length behaviour unchanged.
3. Run the unit tests.
'''

[[reply]]
role = "implementer"
text = '''
Here is the change:

```diff
diff --git a/stats.py b/stats.py
--- a/stats.py
+++ b/stats.py
@@ -10,4 +10,6 @@ def median(values):
     """Return the median of a non-empty list of numbers."""
     ordered = sorted(values)
     middle = len(ordered) // 2
+    if len(ordered) % 2 == 0:
+        return (ordered[middle - 1] + ordered[middle]) / 2
     return ordered[middle]
```
'''

[[reply]]
role = "reviewer"
text = '''
```json
{"findings": [{"severity": "blocking", "path": "stats.py",
  "text": "median([]) now fails with an IndexError that says nothing useful; raise ValueError with a clear message and cover it with a test"}]}
```
'''

[[reply]]
role = "implementer"
text = '''
```diff
diff --git a/stats.py b/stats.py
--- a/stats.py
+++ b/stats.py
@@ -8,6 +8,8 @@ def mean(values):
 
 def median(values):
     """Return the median of a non-empty list of numbers."""
+    if not values:
+        raise ValueError("median() of an empty list")
     ordered = sorted(values)
     middle = len(ordered) // 2
     if len(ordered) % 2 == 0:
diff --git a/test_stats.py b/test_stats.py
--- a/test_stats.py
+++ b/test_stats.py
@@ -13,6 +13,10 @@ class StatsTest(unittest.TestCase):
     def test_median_even(self):
         self.assertEqual(median([4, 1, 3, 2]), 2.5)
 
+    def test_median_empty(self):
+        with self.assertRaises(ValueError):
+            median([])
+
 
 if __name__ == "__main__":
     unittest.main()
```
'''

[[reply]]
role = "reviewer"
text = '''{"findings": []}'''
"####;

/// The demo project's loom configuration.
pub const CONFIG: &str = r#"# The demo's loom configuration (see `loom init` for every setting).
policy = "supervised"
default_chain = ["scripted:.loom/demo-replies.toml"]

[commands]
test = "python3 -m unittest -q"
"#;

pub const TASK: &str = "Fix median() for lists of even length";
