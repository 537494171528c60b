"""Helpers of the RocksDB tests: the records a :class:`Recovery` reports, one meta each."""

from __future__ import annotations

from natskern.kernel.store.log import RecordColumns, RecordMeta, Recovery


async def recovered(rec: Recovery) -> list[RecordMeta]:
    """Every record ``rec`` reports, columnar chunks flattened into metas."""
    items = rec.records if isinstance(rec.records, list) else [m async for m in rec.records]  # type: ignore[union-attr]
    out: list[RecordMeta] = []
    for item in items:
        if isinstance(item, RecordColumns):
            out.extend(
                RecordMeta(q, t, s, z, item.ttls.get(q, 0))
                for q, t, s, z in zip(item.seqs, item.ts, item.subjects, item.sizes, strict=True)
            )
        else:
            out.append(item)
    return out
