"""`generate` with the scripted streaming teacher, as a separate process that tests can kill -9.

python -m tests.scripts.fake_generate OUT_DIR [--num N] [--delay SECONDS] [--ledger FILE]

--ledger appends one line per teacher call, the number of requests handed to the teacher, before
any of them is answered: the requests a kill -9 loses in flight are those in the ledger but not
in the journal. Each line is one unbuffered O_APPEND write, so it survives the kill.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence

from conf.config import load_config
from generator.teachers.base import ChatRequest, Completion
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS
from tests.fakes import StreamingScriptedTeacher


class LedgerTeacher(StreamingScriptedTeacher):
    def __init__(self, ledger: str, **kwargs):
        super().__init__(**kwargs)
        self.ledger = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _submitted(self, requests: Sequence[ChatRequest]) -> None:
        os.write(self.ledger, f"{len(requests)}\n".encode())

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self._submitted(requests)
        return super().generate(requests)

    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        self._submitted(requests)
        return super().stream(requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--num", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--ledger", default=None, help="append the size of every teacher call to this file")
    args = parser.parse_args()
    config = load_config(overrides={"generation": {"num": args.num, "min_prompts_per_round": 4}})
    teacher = (
        LedgerTeacher(args.ledger, delay=args.delay) if args.ledger else StreamingScriptedTeacher(delay=args.delay)
    )
    summary = generate(config, GENERAL_SEEDS, args.out, teacher=teacher)
    print(f"done kept={summary.funnel['kept']} calls={summary.stats['teacher']['calls']}", flush=True)


if __name__ == "__main__":
    main()
