"""Collection rules for ``--doctest-modules`` (pyproject.toml), which imports every module under rag/.

``tests/conftest.py`` holds the tests' fixtures; this file only keeps modules out of collection whose
import is not safe there.
"""

# rag/web/datalayer.py imports chainlit, and importing chainlit writes .chainlit/ and .files/ into the
# working directory and fixes chainlit's APP_ROOT for the whole process: tests/test_app.py and
# tests/test_history.py import it themselves, in a temporary folder, and check that no module did
# before. It has no docstring examples.
collect_ignore = ["rag/web/datalayer.py"]
