"""nats-server's configuration file format and command line, mapped onto natskern's model.

* :func:`parse_file` / :func:`parse_text` read the syntax into a position-aware tree;
* :func:`translate` turns that tree into natskern's configuration dict;
* :mod:`kernel.natsconf.flags` parses nats-server's command line;
* :func:`kernel.natsconf.main.main` is the ``natskern-server`` console script.
"""

from kernel.natsconf.errors import ConfSyntaxError, ConfTranslateError, NatsConfError
from kernel.natsconf.parser import ConfList, ConfMap, Pos, parse_file, parse_text
from kernel.natsconf.translate import translate, translate_report

__all__ = [
    "ConfList",
    "ConfMap",
    "ConfSyntaxError",
    "ConfTranslateError",
    "NatsConfError",
    "Pos",
    "parse_file",
    "parse_text",
    "translate",
    "translate_report",
]
