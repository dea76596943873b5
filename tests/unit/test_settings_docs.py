"""The configuration reference is the settings' declarations, rendered: the README's table is
exactly what ``orderflow settings --markdown`` prints, and every declared variable has a name
of its own and a meaning."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from orderflow.settings import GROUPS, declared
from orderflow.settings_docs import README_BEGIN, README_END, documented, readme_with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_generated_one() -> None:
    readme = README.read_text()
    assert README_BEGIN in readme and README_END in readme
    assert readme_with_table(readme) == readme, (
        "the README's settings table is stale: run `orderflow settings --write-readme README.md`"
    )


def test_every_variable_is_declared_once_with_a_meaning() -> None:
    names = Counter(var.name for group in GROUPS for _, var, _ in declared(group))
    assert [name for name, count in names.items() if count > 1] == []
    undocumented = [item.var.name for item in documented() if len(item.doc) < 10]
    assert undocumented == []
    # The table has one row per declaration, so nothing a process reads is missing from it.
    assert len(documented()) == sum(names.values())
