"""The command line: the only place that configures logging and prints."""
