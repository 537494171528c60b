"""Transports: listeners that carry the NATS client protocol to the broker."""
