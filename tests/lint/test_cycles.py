#!/usr/bin/env python3
"""Self-test of cycles.py (run by `make lint-cycles` before it checks the
tree): tiny modules compiled with cc, a cycle found with the calls behind
it, a layered folder passed, an allowed folder reported without failing,
a missing object refused."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CYCLES = os.path.join(HERE, "cycles.py")
CC = os.environ.get("CC", "cc")


def build(d, sources):
    """Writes {stem: C text} into d/src and compiles each into d/obj."""
    src, obj = os.path.join(d, "src"), os.path.join(d, "obj")
    os.makedirs(src)
    os.makedirs(obj)
    for stem, text in sources.items():
        path = os.path.join(src, stem + ".c")
        with open(path, "w") as f:
            f.write(text)
        subprocess.run([CC, "-c", path, "-o",
                        os.path.join(obj, stem + ".o")], check=True)
    return src, obj


def run(*args):
    return subprocess.run([sys.executable, CYCLES] + list(args), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


# a -> b -> c -> a is a cycle; d calls into it from above.
CYCLIC = {
    "a": "void b_f(void); void a_f(void) { b_f(); }\n",
    "b": "void c_f(void); void b_f(void) { c_f(); }\n",
    "c": "void a_f(void); void c_f(void) { a_f(); }\n",
    "d": "void a_f(void); void d_f(void) { a_f(); }\n",
}
# The same calls with the upward one made through a pointer (a hook).
LAYERED = {
    "a": "void b_f(void); void a_f(void) { b_f(); }\n",
    "b": "void c_f(void); void b_f(void) { c_f(); }\n",
    "c": "void (*c_hook)(void); void c_f(void) { if (c_hook) c_hook(); }\n",
    "d": "void a_f(void); void d_f(void) { a_f(); }\n",
}


class Cycles(unittest.TestCase):
    def test_cycle_found_with_its_calls(self):
        with tempfile.TemporaryDirectory() as d:
            src, obj = build(d, CYCLIC)
            r = run("x=%s:%s" % (src, obj))
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("x: cycle of 3 modules: a b c", r.stdout)
            self.assertIn("c -> a: a_f", r.stdout)
            self.assertNotIn(" d", r.stdout.splitlines()[0])

    def test_layered_passes(self):
        with tempfile.TemporaryDirectory() as d:
            src, obj = build(d, LAYERED)
            r = run("x=%s:%s" % (src, obj))
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("x: no cycle", r.stdout)

    def test_allowed_folder_reported_not_failed(self):
        with tempfile.TemporaryDirectory() as d:
            src, obj = build(d, CYCLIC)
            r = run("--allow", "x", "x=%s:%s" % (src, obj))
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("x: 1 cycle(s), allowed", r.stdout)

    def test_missing_object_refused(self):
        with tempfile.TemporaryDirectory() as d:
            src, obj = build(d, LAYERED)
            os.unlink(os.path.join(obj, "b.o"))
            r = run("x=%s:%s" % (src, obj))
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("b.o is missing", r.stdout)


if __name__ == "__main__":
    unittest.main()
