"""Protocol constants and defaults, each as nats-server defines it (server/const.go, opts.go)."""

from __future__ import annotations

#: The nats-server version we advertise in INFO.  Clients gate features on it
#: (nats.py uses the named consumer-create API from 2.9, nats.js needs 2.10 for
#: subject transforms); 2.10 matches what natskern implements.
ADVERTISED_VERSION = "2.10.24"

#: Client protocol version: 1 = supports async INFO.
PROTO_VERSION = 1

#: Default client port.
DEFAULT_PORT = 4222

#: Largest message payload accepted by default (1 MiB).
DEFAULT_MAX_PAYLOAD = 1024 * 1024

#: Longest control line a client may send (bytes, CRLF excluded).
DEFAULT_MAX_CONTROL_LINE = 4096

#: Outbound bytes a connection may have pending before it is cut as a slow consumer.
DEFAULT_MAX_PENDING = 64 * 1024 * 1024

#: Seconds a blocked write may last before the connection is cut as a slow consumer.
DEFAULT_WRITE_DEADLINE = 10.0

#: Seconds between server PINGs when the client has been quiet.
DEFAULT_PING_INTERVAL = 120.0

#: Unanswered PINGs tolerated before 'Stale Connection'.
DEFAULT_PING_MAX = 2

#: Seconds after connect before the first server PING (RTT measurement).
FIRST_PING_DELAY = 2.0

#: Seconds a client has to send CONNECT when auth is required.
DEFAULT_AUTH_TIMEOUT = 2.0

#: Connections accepted at once.
DEFAULT_MAX_CONNECTIONS = 64 * 1024

#: Lame-duck mode: how long to spread client closes over, and the grace before it starts.
DEFAULT_LAME_DUCK_DURATION = 120.0
DEFAULT_LAME_DUCK_GRACE_PERIOD = 10.0

#: The default (global) account, used when no auth puts a client elsewhere.
GLOBAL_ACCOUNT = "$G"

#: The system account's default name.
SYSTEM_ACCOUNT = "$SYS"
