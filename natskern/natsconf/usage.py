"""The help texts of ``natskern-server`` (laid out like nats-server's, same flags)."""

from __future__ import annotations

__all__ = ["TLS_HELP", "usage"]

_USAGE = """
Usage: {prog} [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1: random)
    -n, --name
        --server_name <server_name>  Server name (default: the server id)
    -P, --pid <file>                 File to store the process id in
    -m, --http_port <port>           Use port for HTTP monitoring
    -ms,--https_port <port>          Use port for HTTPS monitoring (not implemented)
    -c, --config <file>              Configuration file (nats-server format)
    -t                               Test the configuration file and exit
    -sl,--signal <signal>[=<pid>]    Send a signal to a running server (ldm, stop, quit,
                                     term, reopen, reload); <pid> may be a PID file
        --client_advertise <string>  Client URL to advertise (accepted, ignored)
        --ports_file_dir <dir>       Directory for a ports file (accepted, ignored)

Logging Options:
    -l, --log <file>                 File to write the log to
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC (accepted, ignored: local time)
    -s, --syslog                     Log to the local syslog (/dev/log; refused without)
    -r, --remote_syslog <addr>       Log to this syslog server (udp://host:port, tcp://...)
    -D, --debug                      Enable debug output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (the same as -V)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (the same as -DV)
        --log_size_limit <limit>     Log file size limit (accepted, ignored)
        --max_traced_msg_len <len>   Cut traced payloads after this many bytes

JetStream Options:
    -js, --jetstream                 Enable JetStream
    -sd, --store_dir <dir>           JetStream storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key of the server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           CA certificate(s) to verify clients with

Cluster Options (accepted; clustering is not implemented yet):
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster name
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster URL from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port (accepted, ignored)

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
"""

TLS_HELP = """
TLS is configured in the tls section of the configuration file, for example:

    tls {
        cert_file: "./certs/server-cert.pem"
        key_file:  "./certs/server-key.pem"
        ca_file:   "./certs/ca.pem"     # to verify client certificates
        verify:    true                 # require client certificates
        timeout:   2                    # seconds (or a duration like "2s")
        handshake_first: false          # TLS before the INFO line
    }

The same block inside websocket {} secures WebSocket connections.  Cipher suites,
curve preferences and minimum versions are accepted for compatibility but natskern
uses Python's default TLS settings.
"""


def usage(prog: str) -> str:
    """The ``-h`` text for program name ``prog``."""
    return _USAGE.format(prog=prog)
