"""`generate` with the scripted streaming teacher, as a separate process that tests can kill -9.

python -m tests.scripts.fake_generate OUT_DIR [--num N] [--delay SECONDS]
"""

from __future__ import annotations

import argparse

from conf.config import load_config
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS
from tests.fakes import StreamingScriptedTeacher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--num", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.01)
    args = parser.parse_args()
    config = load_config(overrides={"generation": {"num": args.num, "min_prompts_per_round": 4}})
    summary = generate(config, GENERAL_SEEDS, args.out, teacher=StreamingScriptedTeacher(delay=args.delay))
    print(f"done kept={summary.funnel['kept']} calls={summary.stats['teacher']['calls']}", flush=True)


if __name__ == "__main__":
    main()
