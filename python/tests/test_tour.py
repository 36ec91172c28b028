"""docs/PYTHON.md's tour and the README's Python example run as written: their ```python
blocks, in order, in one namespace, from the repository root (as a reader runs them)."""
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def blocks(path):
    with open(path) as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


@pytest.mark.parametrize("doc", ["docs/PYTHON.md", "README.md"])
def test_python_blocks_run(doc, monkeypatch, capsys):
    code = blocks(os.path.join(ROOT, doc))
    assert code, "%s has no python block" % doc
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__tour__"}
    for i, block in enumerate(code):
        try:
            exec(compile(block, "%s[block %d]" % (doc, i + 1), "exec"), namespace)
        except Exception as exc:
            raise AssertionError("%s, python block %d failed: %r\n%s" % (doc, i + 1, exc, block)) from exc
