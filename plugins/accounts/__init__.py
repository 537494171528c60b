"""Account exports and imports (streams and services), wired at configure time.

The ``[accounts]`` section itself belongs to the auth plugin (``natskern.plugins.auth.schema``);
this plugin adds the ``exports``/``imports`` keys to every account
(:mod:`natskern.plugins.accounts.schema`), checks them the way nats-server
does (:mod:`natskern.plugins.accounts.wiring`) and installs the internal subscriptions of
:mod:`natskern.kernel.core.imports`.
"""
