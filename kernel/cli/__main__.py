"""``python -m kernel.cli`` runs the natskern command line."""

from kernel.cli.app import main

main()
