"""``python -m harvester``."""

from harvester.cli import run

run()
