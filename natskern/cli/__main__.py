"""``python -m natskern.cli`` runs the natskern command line."""

from natskern.cli.app import main

main()
