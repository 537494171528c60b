"""natscli's ``kv info`` page: configuration, republish, metadata, mirror and sources."""

from __future__ import annotations

from typing import Any

from natskern.plugins.jetstream.cli import format as fmt

__all__ = ["status_page"]


def status_page(st: Any) -> None:
    """Print natscli's ``kv info`` page of a nats-py bucket status."""
    cfg = st.stream_info.config
    created = fmt.time_text(st.stream_info.created)
    page = fmt.Page(f"Information for Key-Value Store Bucket {st.bucket} created {created}")
    rows = page.section("Configuration")
    rows += [
        ("Bucket Name", st.bucket),
        ("History Kept", str(st.history)),
        ("Values Stored", fmt.count(st.values)),
        ("Compressed", fmt.yes_no(cfg.compression not in (None, "none"))),
        ("Backing Store Kind", "JetStream"),
        ("Bucket Size", fmt.size(st.stream_info.state.bytes)),
        ("Maximum Bucket Size", fmt.limit(cfg.max_bytes, as_size=True)),
        ("Maximum Value Size", fmt.limit(cfg.max_msg_size, as_size=True)),
        ("Maximum Age", fmt.duration(cfg.max_age) if cfg.max_age else "unlimited"),
        ("JetStream Stream", cfg.name),
        ("Storage", str(getattr(cfg.storage, "value", cfg.storage)).title()),
    ]
    if cfg.republish is not None:
        rp = cfg.republish
        rows.append(("Republishing", f"{rp.src} to {rp.dest}"))
        rows.append(("Headers Only", fmt.yes_no(bool(rp.headers_only))))
    meta = sorted((k, v) for k, v in (cfg.metadata or {}).items() if not k.startswith("_nats"))
    if meta:
        rows = page.section("Metadata")
        rows += meta
    info = st.stream_info
    if info.mirror is not None:
        rows = page.section("Mirror Information")
        rows += _source_rows(info.mirror, "Origin Bucket")
    for source in info.sources or []:
        rows = page.section("Sources Information")
        rows += _source_rows(source, "Source Bucket")
    page.print()


def _source_rows(source: Any, label: str) -> list[tuple[str, str]]:
    name = source.name[3:] if source.name.startswith("KV_") else source.name
    rows = [(label, name)]
    external = getattr(source, "external", None)
    api = external.get("api") if isinstance(external, dict) else getattr(external, "api", None)
    if api:
        rows.append(("External API", api))
    rows.append(("Lag", fmt.count(source.lag or 0)))
    rows.append(("Last Seen", fmt.duration_ns(source.active, zero="never")))
    return rows
