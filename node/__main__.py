"""``python -m node`` starts a node."""

from node.cli import main

main()
