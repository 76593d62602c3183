"""The one error the watcher stops on: a setting it cannot read."""


class ConfigError(Exception):
    pass
