"""A Docker engine of the tests' own, and the base images the generated Dockerfiles start from."""
