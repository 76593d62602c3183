"""The deploy scripts' generator, run by ../generate.py: ops (what a script does, step by step),
steps (the list of operations), render_sh and render_bat (the twins), config_files."""
