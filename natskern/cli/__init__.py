"""The natskern command-line tool (``natskern``), shaped like the nats CLI.

Entry point: :func:`natskern.cli.app.main`.  Reusable pieces:
:func:`natskern.cli.connect.connect` (connection options → nats-py client) and
:func:`natskern.cli.unix_transport.connect_unix` (nats-py over a Unix socket).
"""
