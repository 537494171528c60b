"""The natskern command-line tool (``natskern``), shaped like the nats CLI.

Entry point: :func:`kernel.cli.app.main`.  Reusable pieces:
:func:`kernel.cli.connect.connect` (connection options → nats-py client) and
:func:`kernel.cli.unix_transport.connect_unix` (nats-py over a Unix socket).
"""
