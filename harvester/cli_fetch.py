"""``harvester fetch``: targets (URLs, DOIs, PMIDs, ISBNs) to records, through the sources."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fetch`` subcommand (the fetch helper fills this in)."""
