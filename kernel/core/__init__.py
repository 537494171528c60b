"""The core of the broker: sessions, routing, accounts, permissions, embedding."""
