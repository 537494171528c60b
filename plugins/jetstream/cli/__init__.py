"""The JetStream command line: ``natskern stream ...`` and ``natskern consumer ...``."""
