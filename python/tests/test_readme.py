"""The Python page's example (docs/python.md) runs as written and prints
what its comment says."""

import contextlib
import io
import pathlib
import re
import warnings

README = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md"


def python_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_estimator_example_prints_its_shown_score():
    (block,) = [b for b in python_blocks() if "from backprop import MLPClassifier" in b]
    shown = re.search(r"#\s*([0-9.]+);", block).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(block, str(README), "exec"), {})
    score = out.getvalue().split()[0]
    assert f"{float(score):.3f}" == shown, out.getvalue()
    assert any(w.category.__name__ == "ConvergenceWarning" for w in caught), "the comment promises one"
