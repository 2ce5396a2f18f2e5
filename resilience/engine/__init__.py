"""The engine: load and validate experiments, run them through chaoslib, assemble the verdict."""
