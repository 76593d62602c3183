"""The native runner: the stack of compose.yaml on this machine, without Docker.

`scripts/local/stack.py` is its command line (see `cli`). One module per concern: `envfile` (the
env-file reader, compose's rules), `config` (the project, its settings and its compose services),
`state` (the state dir), `ports`, `processes` (the supervisor), `probes` (health checks),
`packages` (the services' virtualenv), `postgres`, `certificates`, `nginx`, `services` (each
compose service's native recipe), `runner` (up, status, down, test, manage). Standard library only,
so it runs before any virtualenv exists.
"""
