"""``harvester harvest | refresh | export | status``: the scheduled-job commands."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the store-backed subcommands; each sets ``func`` to its runner."""
