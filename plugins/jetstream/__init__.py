"""The JetStream plugin: owns the ``jetstream`` config section and ``accounts.*.jetstream``.

It accepts nats-server's JetStream settings (server-wide and per account, as
:mod:`natskern.natsconf` translates them) and, when ``jetstream.enabled``, runs the
engine (:mod:`natskern.kernel.jetstream.engine`) in ``lifespan``: stores are opened
there, never in ``configure`` (which also runs for ``natskern-server -t`` and before a
reload).  Per-account limits are accepted but not enforced yet.
"""
