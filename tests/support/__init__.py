"""Every helper of the tests and the bench (imported as `support.…`; bench/support links here).

- project: the template rendered, its native runner (`Stack`, `boot_stack`), a PostgreSQL cluster
- api: a booted stack seen from outside (clients, raw exchanges, its database and volume, a reset)
- browser, edge, releases: the browser layer's pages, a standalone edge, template releases
- waiting (`wait_for`), ports (`free_port`, `wait_for_port`), processes (`pid_alive`, `stop_pid`,
  `start_process`, `stop_process`): the one way to poll, pick a port, watch and stop a process
- docker, swarm, sshd, pebble, seaweedfs, deploy, wine: the real parts the later layers start
"""
