"""`gantune tune` and `gantune export` sub-commands (Ray is imported only when they run)."""

from __future__ import annotations

import argparse


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    pass
