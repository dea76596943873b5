"""bench.servers: reading a process's CPU time from /proc."""

from __future__ import annotations

import os

import pytest
from bench.servers import stat_cpu


def test_a_stat_line_is_read_after_the_last_parenthesis() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    # A thread may name itself anything, parentheses and spaces included. Fields 14 and 15
    # (utime 300, stime 200) are set apart from their neighbours (13: 9000, 16: 7000).
    line = "4242 (odd) name (x)) S 1 2 3 4 5 6 7 8 9 9000 300 200 7000 8 9 10\n"
    name, seconds = stat_cpu(line)
    assert name == "odd) name (x)"
    assert seconds == pytest.approx(500 / ticks)


def test_waited_for_children_are_added_on_request() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    # utime 300, stime 200, then the children's cutime 7000 and cstime 8 (fields 16 and 17).
    line = "4242 (api) S 1 2 3 4 5 6 7 8 9 9000 300 200 7000 8 9 10\n"
    name, seconds = stat_cpu(line, waited_children=True)
    assert name == "api"
    assert seconds == pytest.approx(7508 / ticks)
