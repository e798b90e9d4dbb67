"""``-lc``/``--log-config``: configure fastscp's logging from a log4cplus
properties file, as storescp does (DCMTK's ``logger.cfg`` and
``filelog.cfg`` work unchanged).

`configure_logging(path)` is the library's entry point and the CLI's: call
it before starting a `Server` (also in inetd mode, where it is the only way
to log).  It reads the file (`fastscp.logproperties`), replaces the
``${variables}`` (``${appname}`` is ``fastscp``, so ``${appname}.log`` is
``fastscp.log``), then, as log4cplus' PropertyConfigurator:

* makes the appenders ``log4cplus.appender.NAME = KIND`` with their
  ``log4cplus.appender.NAME.*`` properties (`fastscp.logappenders`);
* sets ``log4cplus.rootLogger = LEVEL, appender, ...`` and each
  ``log4cplus.logger.NAME = LEVEL, appender, ...`` on the fastscp logger of
  that name (`fastscp.log`: log4cplus ``N`` is Python ``fastscp.N``, the root
  is ``fastscp``); a level that is not one (e.g. ``INHERITED``) inherits;
* sets ``log4cplus.additivity.NAME = true|false`` (``propagate``).

Whatever fastscp configured before (console handler, an earlier file) is
removed first.  Problems in the file are reported on stderr as log4cplus
reports them (``log4cplus:ERROR ...``) and the rest of the file still
applies; ``log4cplus.quietMode=true`` silences those reports.
"""
from __future__ import annotations

import logging
from typing import Dict, List

from . import logproperties
from .errors import ConfigError
from .log import ROOT_LOGGER, log4cplus_name, loglog, python_name, remove_handlers
from .logappenders import NOT_SET, Appender, level_from_string, make_appender
from .logproperties import Properties
from .options import PROGRAM

#: what ${appname} stands for: the program name (storescp: "storescp")
APPNAME = PROGRAM

PREFIX = "log4cplus."
ROOT_KEY = PREFIX + "rootLogger"


class LogConfigError(ConfigError):
    """The file cannot be used at all (storescp's messages)."""


def read_config(path: str) -> Properties:
    """The properties of the file at ``path``; LogConfigError with storescp's
    message if it is missing or has no ``log4cplus.rootLogger``."""
    try:
        props = logproperties.read(path)
    except IsADirectoryError:
        raise LogConfigError("Specified --log-config file does not exist") from None
    except FileNotFoundError:
        raise LogConfigError("Specified --log-config file does not exist") from None
    except OSError:
        raise LogConfigError("Specified --log-config file cannot be read") from None
    if not len(props):
        raise LogConfigError("Specified --log-config file does not contain any settings")
    if not len(props.subset(PREFIX)):
        raise LogConfigError("Specified --log-config file does not contain any valid settings")
    if ROOT_KEY not in props:
        raise LogConfigError("Specified --log-config file does not set up log4cplus.rootLogger")
    return props


def _fastscp_loggers() -> List[logging.Logger]:
    """The root and every logger below it that exists."""
    below = [logging.getLogger(name) for name in sorted(logging.root.manager.loggerDict)
             if name.startswith(ROOT_LOGGER + ".")
             and isinstance(logging.root.manager.loggerDict[name], logging.Logger)]
    return [logging.getLogger(ROOT_LOGGER)] + below


def reset() -> None:
    """Undo fastscp's logging configuration: handlers fastscp installed are
    closed, levels and additivity are back to their defaults."""
    for logger in _fastscp_loggers():
        remove_handlers(logger)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def _configure_logger(logger: logging.Logger, value: str, appenders: Dict[str, Appender]) -> None:
    """``LEVEL, appender, ...`` (blanks removed, as log4cplus removes them)."""
    is_root = logger.name == ROOT_LOGGER
    tokens = value.replace(" ", "").split(",")
    if tokens == [""]:
        loglog.error("PropertyConfigurator::configureLogger()- Invalid config string(Logger = %s): "
                     "\"%s\"" % (log4cplus_name(logger.name), value))
        return
    level = NOT_SET if tokens[0] == "INHERITED" else level_from_string(tokens[0])
    if is_root and level == NOT_SET:
        loglog.error("You have tried to set NOT_SET_LOG_LEVEL to root.")
    else:
        logger.setLevel(level)
    remove_handlers(logger)
    for name in tokens[1:]:
        if not name:                    # log4cplus collapses ",,", drops a trailing ","
            continue
        appender = appenders.get(name)
        if appender is None:
            loglog.error("PropertyConfigurator::configureLogger()- Invalid appender: " + name)
            continue
        logger.addHandler(appender)


def apply(props: Properties, appname: str = APPNAME) -> None:
    """Configure fastscp's loggers from ``props`` (a whole file's properties)."""
    props = logproperties.substitute(props, logproperties.predefined(appname)).subset(PREFIX)
    quiet = props.get_bool("quietMode")
    if quiet is not None:
        loglog.quiet = quiet
    reset()
    root = logging.getLogger(ROOT_LOGGER)
    # DCMTK's starting point, before the file: the root at INFO; fastscp's
    # records stop at its root (no second copy through Python's root logger)
    root.setLevel(logging.INFO)
    root.propagate = False

    appender_props = props.subset("appender.")
    appenders: Dict[str, Appender] = {}
    for name in appender_props.names():
        if "." in name:
            continue
        appender = make_appender(appender_props.get(name), appender_props.subset(name + "."), appname)
        if appender is not None:
            appender.set_name(name)
            appenders[name] = appender

    if "rootLogger" in props:
        _configure_logger(root, props.get("rootLogger"), appenders)
    loggers = props.subset("logger.")
    for name in loggers.names():
        _configure_logger(logging.getLogger(python_name(name)), loggers.get(name), appenders)

    additivity = props.subset("additivity.")
    for name in additivity.names():
        value = additivity.get_bool(name)
        if value is not None:
            logging.getLogger(python_name(name)).propagate = value

    # appenders no logger uses are closed (log4cplus drops them)
    used = {id(h) for logger in _fastscp_loggers() for h in logger.handlers}
    for appender in appenders.values():
        if id(appender) not in used:
            appender.close()


def configure_logging(path: str, appname: str = APPNAME) -> None:
    """Configure fastscp's logging from the log4cplus properties file at
    ``path`` (see the module's documentation); ``appname`` is what
    ``${appname}`` stands for.  Raises LogConfigError (a ConfigError) with
    storescp's message if the file is missing, empty or sets up no
    ``log4cplus.rootLogger``."""
    apply(read_config(path), appname)
