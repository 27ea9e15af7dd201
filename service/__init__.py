"""CLI, HTTP job API, job store and worker: composes generator, filters and finetune."""
