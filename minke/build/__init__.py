"""Dockerfile builds: the parser, variable substitution, the build context and the builder."""
