"""nats-server's configuration file format and command line, mapped onto natskern's model.

* :func:`parse_file` / :func:`parse_text` read the syntax into a position-aware tree;
* :func:`translate` turns that tree into natskern's configuration dict;
* :mod:`natskern.natsconf.flags` parses nats-server's command line;
* :func:`natskern.natsconf.main.main` is the ``natskern-server`` console script.
"""

from natskern.natsconf.errors import ConfSyntaxError, ConfTranslateError, NatsConfError
from natskern.natsconf.parser import ConfList, ConfMap, Pos, parse_file, parse_text
from natskern.natsconf.translate import translate, translate_report

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
