"""The JetStream plugin: owns the ``jetstream`` config section and ``accounts.*.jetstream``.

Today it accepts nats-server's JetStream settings (server-wide and per account, as
:mod:`natskern.natsconf` translates them) and says at start that JetStream is not
implemented yet.  The engine will live here: stores are opened in ``lifespan``, never
in ``configure`` (which also runs for ``natskern-server -t`` and before a reload).
"""
