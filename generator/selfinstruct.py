"""Self-Instruct bootstrap: seed demos → new instructions → filter → pool → responses, in rounds.

Each round asks the teacher for a batch of instruction lists, screens every proposed instruction
(in request order) against everything accepted so far, and answers the survivors. The traffic
streams (generator/flow.py): a survivor's response request is sent the moment it is accepted,
and the next round's prompts while this round's responses decode, so the engine stays full; the
decisions are the rounds' all the same. Demo sampling mixes human seeds with machine-generated
instructions as in the Self-Instruct paper (6 + 2 there), from one seeded RNG, so a run is a
function of its inputs and the teacher's answers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.flow import Flow
from generator.gateway import Call, Gateway, Outcome
from generator.seeds import SeedTask
from generator.selfinstruct_config import GenerationConfig
from prompts import Record, get_spec, stable_hash
from prompts.schemas import NewInstructions, Response

Screen = Callable[[Record], Record]  # returns the record kept (maybe with scores) or rejected

INSTRUCTION_STAGE = "instructions"
RESPONSE_STAGE = "responses"


@dataclass
class GenerationResult:
    records: list[Record]  # every candidate, kept or rejected, in creation order
    rounds: int
    target: int
    kept: int
    stopped: str = "target"  # why generation ended: target | max_rounds | token_budget


def quarantine(outcome: Outcome, record_id: str | None, stage: str, **meta: Any) -> Record:
    """A request that never produced valid output still becomes a row: rejected, with evidence.
    Without a record id, the row's id comes from the call's key and the failed request's id."""
    if record_id is None:
        record_id = stable_hash("quarantine", outcome.call.key, outcome.request_id)
    return Record(id=record_id, meta={**meta, "request_ids": outcome.request_ids}).reject(
        "validation",
        outcome.failure or "invalid",
        spec=outcome.call.spec.name,
        teacher_stage=stage,
        raw=outcome.text,
        errors=outcome.errors,
        attempts=outcome.attempts,
    )


@dataclass
class _Prompt:
    """One instruction prompt in flight, and what screening its answer decided."""

    ticket: int
    round_no: int
    index: int
    demos: dict[str, list[str]]
    screened: bool = False
    rejected: list[Record] = field(default_factory=list)  # in screening order (quarantines too)
    accepted: list[tuple[Record, int]] = field(default_factory=list)  # with their response tickets


class SelfInstruct:
    def __init__(
        self,
        config: GenerationConfig,
        gateway: Gateway,
        screen_instruction: Screen,
        screen_response: Screen,
        on_round: Callable[[int, int], None] | None = None,
    ):
        self.config = config
        self.gateway = gateway
        self.screen_instruction = screen_instruction
        self.screen_response = screen_response
        self.on_round = on_round or (lambda kept, target: None)
        self.instruction_spec = get_spec("new_instructions")
        self.response_spec = get_spec("response")

    def teacher_meta(self) -> dict[str, str]:
        teacher = self.gateway.teacher
        return {"model": teacher.model_name, "revision": teacher.revision, "endpoint": teacher.endpoint}

    def run(self, seeds: list[SeedTask]) -> GenerationResult:
        with Flow(self.gateway) as flow:
            return self._rounds(flow, seeds)

    def _prompts(self, need: int) -> int:
        # Small batches starve the engine (and a lone retry batch is slower still), so a
        # round never sends fewer than min_prompts_per_round prompts.
        cfg = self.config
        wanted = math.ceil(need * cfg.overgenerate / cfg.instructions_per_prompt)
        return max(cfg.min_prompts_per_round, min(cfg.prompts_per_round, wanted))

    def _rounds(self, flow: Flow, seeds: list[SeedTask]) -> GenerationResult:
        """Rounds as decisions go: a round's prompts see the instructions kept before it, and it
        is as large as the rows still missing ask. As traffic goes, rounds overlap: an accepted
        instruction's response request is sent at once, and whenever the next round is certain
        to come its first prompts are sent while this round's responses decode, and screened as
        they arrive (the instruction and response chains keep separate state, and the rows and
        the demo pool take them in round order all the same)."""
        cfg = self.config
        rng = random.Random(cfg.seed)
        records: list[Record] = []
        machine: list[Record] = []
        kept = 0
        rounds = 0
        ahead: list[_Prompt] = []  # the next round's first prompts, already sent
        while kept < cfg.num and rounds < cfg.max_rounds and not self.gateway.over_budget:
            n_prompts = self._prompts(cfg.num - kept)
            prompts = ahead + [
                self._send_prompt(flow, rng, seeds, machine, rounds, i) for i in range(len(ahead), n_prompts)
            ]
            self.gateway.stage_begins(INSTRUCTION_STAGE)
            accepted: list[tuple[Record, int]] = []
            for prompt in prompts:
                self._screen_prompt(flow, prompt)
                records += prompt.rejected
                accepted += prompt.accepted
                machine += [record for record, _ in prompt.accepted]
            self.gateway.stage_ends(INSTRUCTION_STAGE)
            # Kept rows can only grow to kept + len(accepted); if even that misses the target the
            # next round comes, and at least this many prompts of it are already known.
            ahead = []
            if self._certain_next(kept + len(accepted), rounds):
                ahead = [
                    self._send_prompt(flow, rng, seeds, machine, rounds + 1, i)
                    for i in range(self._prompts(cfg.num - kept - len(accepted)))
                ]

            def screen_ahead(ahead: list[_Prompt] = ahead) -> None:
                for prompt in ahead:  # in prompt order, as far as the answers have come
                    if not prompt.screened and not flow.done(prompt.ticket):
                        return
                    self._screen_prompt(flow, prompt)

            self.gateway.stage_begins(RESPONSE_STAGE)
            for record, ticket in accepted:
                outcome = flow.take(ticket, idle=screen_ahead)
                answered = answered_record(record, outcome, self.screen_response, RESPONSE_STAGE)
                if not answered.rejected:
                    if kept >= cfg.num:
                        answered = answered.reject("quota", "over_target", target=cfg.num)
                    else:
                        kept += 1
                records.append(answered)
            self.gateway.stage_ends(RESPONSE_STAGE)
            rounds += 1
            self.on_round(kept, cfg.num)
        stopped = "target" if kept >= cfg.num else "token_budget" if self.gateway.over_budget else "max_rounds"
        return GenerationResult(records=records, rounds=rounds, target=cfg.num, kept=kept, stopped=stopped)

    def _screen_prompt(self, flow: Flow, prompt: _Prompt) -> None:
        """Screen the instructions one prompt proposed (once); send a response request for each
        accepted one at once."""
        if prompt.screened:
            return
        prompt.screened = True
        outcome = flow.take(prompt.ticket)
        # round/prompt/position: the order rows were screened in, which re-filtering replays
        base_meta = {"round": prompt.round_no, "prompt": prompt.index, "demos": prompt.demos}
        base_meta["teacher"] = self.teacher_meta()
        if not outcome.ok:
            prompt.rejected.append(quarantine(outcome, None, INSTRUCTION_STAGE, **base_meta))
            return
        assert isinstance(outcome.parsed, NewInstructions)
        for j, item in enumerate(outcome.parsed.instructions):
            record = Record(
                id=stable_hash(outcome.request_id, j),
                instruction=item.instruction.strip(),
                input=item.input.strip(),
                meta={**base_meta, "instruction_request": self._request_meta(outcome), "position": j},
            )
            record = self.screen_instruction(record)
            if record.rejected:
                prompt.rejected.append(record)
            else:  # a row once answered (or rejected at the response stage)
                prompt.accepted.append((record, flow.submit(self._response_call(record), RESPONSE_STAGE)))

    def _certain_next(self, most_kept: int, round_no: int) -> bool:
        """Will another round surely follow this one? (A token budget may stop any round: then no.)"""
        return (
            most_kept < self.config.num and round_no + 1 < self.config.max_rounds and self.gateway.token_budget is None
        )

    def _send_prompt(
        self, flow: Flow, rng: random.Random, seeds: list[SeedTask], machine: list[Record], round_no: int, index: int
    ) -> _Prompt:
        call, demos = self._instruction_call(rng, seeds, machine, round_no, index)
        return _Prompt(flow.submit(call, INSTRUCTION_STAGE), round_no, index, demos)

    def _instruction_call(
        self, rng: random.Random, seeds: list[SeedTask], machine: list[Record], round_no: int, index: int
    ) -> tuple[Call, dict[str, list[str]]]:
        cfg = self.config
        n_machine = min(cfg.machine_demos, len(machine))
        n_human = min(cfg.num_demos - n_machine, len(seeds))
        human = rng.sample(seeds, n_human)
        generated = rng.sample(machine, n_machine)
        demos = [{"instruction": s.instruction, "input": s.first_input} for s in human]
        demos += [{"instruction": r.instruction, "input": r.input} for r in generated]
        rng.shuffle(demos)
        messages = self.instruction_spec.render(demos=demos, num=cfg.instructions_per_prompt, domain=cfg.domain)
        call = Call(
            self.instruction_spec,
            messages,
            cfg.instruction_sampling,
            key=f"instructions/r{round_no}/p{index}",
            json_schema=self.instruction_spec.json_schema_with({"instructions": cfg.instructions_per_prompt}),
        )
        return call, {"seed_ids": [s.id for s in human], "machine_ids": [r.id for r in generated]}

    def _response_call(self, record: Record) -> Call:
        return Call(
            self.response_spec,
            self.response_spec.render(instruction=record.instruction, input=record.input),
            self.config.response_sampling,
            key=f"response/{record.id}",
        )

    def _request_meta(self, outcome: Outcome) -> dict[str, Any]:
        return request_meta(outcome)


def request_meta(outcome: Outcome) -> dict[str, Any]:
    """Lineage of one teacher request, kept in a row's meta: id, template, sampling, seed, attempts."""
    spec = outcome.call.spec
    return {
        "id": outcome.request_id,
        "template": {"name": spec.name, "hash": spec.template_hash},
        "sampling": outcome.call.sampling.model_dump(),
        "seed": outcome.seed,
        "attempts": outcome.attempts,
    }


def answer_records(
    gateway: Gateway, records: list[Record], calls: list[Call], screen: Screen, stage: str
) -> list[Record]:
    """One batch of `Response` calls (one per record): answered rows screened, failures quarantined."""
    return [answered_record(r, o, screen, stage) for r, o in zip(records, gateway.run(calls, stage), strict=True)]


def answered_record(record: Record, outcome: Outcome, screen: Screen, stage: str) -> Record:
    """`record` with the answer of its `Response` call, screened; a failed call quarantines it."""
    if not outcome.ok:
        failed = quarantine(outcome, record.id, stage)
        return record.with_meta(response_request=request_meta(outcome)).model_copy(
            update={"rejection": failed.rejection}
        )
    assert isinstance(outcome.parsed, Response)
    answered = record.with_fields(output=outcome.parsed.output.strip()).with_meta(
        response_request=request_meta(outcome)
    )
    return screen(answered)
