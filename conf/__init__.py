"""Configuration plumbing: YAML with located errors, the run config, domain files, `init` templates."""
