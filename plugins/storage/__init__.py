"""Storage backends for JetStream streams (memory, file, RocksDB)."""
