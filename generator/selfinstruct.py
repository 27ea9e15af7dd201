"""Self-Instruct bootstrap: seed demos → new instructions → filter → pool → responses.

The teacher writes lists of new instructions from demos; every proposed instruction is screened
(in request order) against everything accepted so far, and the survivors are answered. Prompts
stream through a window (`prompts_per_round` of them ahead of screening) instead of rounds that
wait for their slowest prompt, and each survivor's response request goes out the moment it is
accepted (generator/flow.py), so the engine stays full; decisions are taken in request order at
fixed points, so the rows never depend on timing. Demo sampling mixes human seeds with
machine-generated instructions as in the Self-Instruct paper (6 + 2 there), from one seeded RNG,
so a run is a function of its inputs and the teacher's answers.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.flow import Flow
from generator.gateway import Call, Gateway, Outcome
from generator.rows import Screen, answered_record, quarantine, request_meta
from generator.seeds import SeedTask
from generator.selfinstruct_config import GenerationConfig
from prompts import Record, get_spec, stable_hash
from prompts.schemas import NewInstructions

PRIOR_WEIGHT = 8  # observations a prior rate is worth (see _Counts.expected)
INSTRUCTION_STAGE = "instructions"
RESPONSE_STAGE = "responses"


@dataclass
class GenerationResult:
    records: list[Record]  # every candidate, kept or rejected, in creation order
    rounds: int
    target: int
    kept: int
    stopped: str = "target"  # why generation ended: target | max_rounds | token_budget


@dataclass
class _Prompt:
    """One instruction prompt in flight, and what screening its answer decided."""

    ticket: int
    number: int  # in the order sent
    round_no: int
    index: int
    demos: dict[str, list[str]]
    screened: bool = False
    guessed: bool = False  # responses sent ahead for what screening will likely accept
    rejected: list[Record] = field(default_factory=list)  # in screening order (quarantines too)
    accepted: list[tuple[Record, int]] = field(default_factory=list)  # with their response tickets
    answered: list[Record] = field(default_factory=list)  # those accepted, answered and screened


@dataclass
class _Counts:
    """What decisions so far tell of the rows to come (read only at fixed points of the loop)."""

    prior: float  # accepted instructions a prompt, until one is screened (ipp / overgenerate)
    screened: int = 0
    accepted: int = 0  # instructions accepted: responses requested
    taken: int = 0  # responses taken ...
    passed: int = 0  # ... that passed screening (kept, or over the target)
    kept: int = 0

    def expected(self, unscreened: int) -> float:
        """Rows the run keeps if it sends nothing more: those passed, plus what is pending at the
        rates measured so far. Each rate starts from its prior (`prior` accepted a prompt, every
        response passing) worth PRIOR_WEIGHT observations, so that one prompt that gave nothing
        cannot send a whole window."""
        pass_rate = (self.passed + PRIOR_WEIGHT) / (self.taken + PRIOR_WEIGHT)
        per_prompt = (self.accepted + self.prior * PRIOR_WEIGHT) / (self.screened + PRIOR_WEIGHT)
        return self.passed + (self.accepted - self.taken + unscreened * per_prompt) * pass_rate


class SelfInstruct:
    def __init__(
        self,
        config: GenerationConfig,
        gateway: Gateway,
        screen_instruction: Screen,
        screen_response: Screen,
        on_round: Callable[[int, int], None] | None = None,
        would_keep: Callable[[Record], bool] | None = None,
    ):
        self.config = config
        self.gateway = gateway
        self.screen_instruction = screen_instruction
        self.screen_response = screen_response
        # The instruction chain's verdict without learning (filters.FilterChain.would_keep): lets
        # the responses of a prompt answered early go out before screening reaches it.
        self.would_keep = would_keep
        self._unscreened: list[_Prompt] = []
        self.on_round = on_round or (lambda kept, target: None)
        self.instruction_spec = get_spec("new_instructions")
        self.response_spec = get_spec("response")

    def teacher_meta(self) -> dict[str, str]:
        teacher = self.gateway.teacher
        return {"model": teacher.model_name, "revision": teacher.revision, "endpoint": teacher.endpoint}

    def run(self, seeds: list[SeedTask]) -> GenerationResult:
        with Flow(self.gateway) as flow:
            return self._stream(flow, seeds)

    def _stream(self, flow: Flow, seeds: list[SeedTask]) -> GenerationResult:
        """Instruction prompts stream through a window: up to `prompts_per_round` prompts are out
        ahead of screening, and each screened prompt lets the next go, its demos drawn from the
        instructions accepted so far. (Rounds that wait for their slowest prompt before the next
        may start idled a 2-core engine for half a run.) Decisions stay in request order: prompts
        are screened in the order sent and responses taken in the order accepted, each at a fixed
        point of this loop (a prompt's responses once it is a window behind, or when the window
        drains), so the rows never depend on timing. A prompt goes out while the rows the run
        expects fall short of the target; a "round" is `prompts_per_round` consecutive prompts."""
        cfg = self.config
        window = cfg.prompts_per_round
        limit = cfg.max_rounds * window
        rng = random.Random(cfg.seed)
        machine: list[Record] = []
        prompts: list[_Prompt] = []
        pending: deque[tuple[_Prompt, Record, int]] = deque()  # accepted, response not yet taken
        counts = _Counts(prior=cfg.instructions_per_prompt / cfg.overgenerate)

        def take_responses(before: int) -> None:
            """Take, in acceptance order, the responses of the prompts sent before prompt `before`."""
            while pending and pending[0][0].number < before:
                if not counts.taken:
                    self.gateway.stage_begins(RESPONSE_STAGE)
                prompt, record, ticket = pending.popleft()
                outcome = flow.take(ticket, idle=lambda: self._send_likely_responses(flow))
                answered = answered_record(record, outcome, self.screen_response, RESPONSE_STAGE)
                counts.taken += 1
                if not answered.rejected:
                    counts.passed += 1
                    if counts.kept >= cfg.num:
                        answered = answered.reject("quota", "over_target", target=cfg.num)
                    else:
                        counts.kept += 1
                prompt.answered.append(answered)

        def send(screened: int) -> None:
            # A drained window sends at least min_prompts_per_round: a lone prompt starves the engine.
            floor = len(prompts) + cfg.min_prompts_per_round if screened == len(prompts) else 0
            while len(prompts) < min(screened + window, limit) and not self.gateway.over_budget:
                if counts.expected(len(prompts) - screened) >= cfg.num and (
                    len(prompts) >= floor or counts.expected(0) >= cfg.num
                ):
                    return
                prompts.append(self._send_prompt(flow, rng, seeds, machine, len(prompts), window))

        self.gateway.stage_begins(INSTRUCTION_STAGE)
        send(0)
        screened = 0
        while screened < len(prompts):
            prompt = prompts[screened]
            self._screen_prompt(flow, prompt)
            machine += [record for record, _ in prompt.accepted]
            pending.extend((prompt, record, ticket) for record, ticket in prompt.accepted)
            counts.accepted += len(prompt.accepted)
            screened = counts.screened = screened + 1
            take_responses(screened - window)
            if screened == len(prompts):  # the window drained: every answer counts for what is next
                take_responses(screened)
            if screened % window == 0 or screened == len(prompts):
                for stage in (INSTRUCTION_STAGE, RESPONSE_STAGE)[: 1 + bool(counts.taken)]:
                    self.gateway.stage_ends(stage)  # progress.json: the stage counts so far
                self.on_round(counts.kept, cfg.num)
            send(screened)
        records: list[Record] = []
        for start in range(0, len(prompts), window):  # per round: what screening rejected, then the answered
            block = prompts[start : start + window]
            records += [record for p in block for record in p.rejected]
            records += [record for p in block for record in p.answered]
        kept = counts.kept
        stopped = "target" if kept >= cfg.num else "token_budget" if self.gateway.over_budget else "max_rounds"
        rounds = -(-len(prompts) // window)
        return GenerationResult(records=records, rounds=rounds, target=cfg.num, kept=kept, stopped=stopped)

    def _screen_prompt(self, flow: Flow, prompt: _Prompt) -> None:
        """Screen the instructions one prompt proposed (once); send a response request for each
        accepted one at once."""
        if prompt.screened:
            return
        prompt.screened = True
        outcome = flow.take(prompt.ticket, idle=lambda: self._send_likely_responses(flow))
        if not outcome.ok:
            prompt.rejected.append(quarantine(outcome, None, INSTRUCTION_STAGE, **self._base_meta(prompt)))
            return
        for record in self._proposed(prompt, outcome):
            record = self.screen_instruction(record)
            if record.rejected:
                prompt.rejected.append(record)
            else:  # a row once answered (or rejected at the response stage)
                prompt.accepted.append((record, flow.submit(self._response_call(record), RESPONSE_STAGE)))

    def _base_meta(self, prompt: _Prompt) -> dict[str, Any]:
        # round/prompt/position: the order rows were screened in, which re-filtering replays
        return {"round": prompt.round_no, "prompt": prompt.index, "demos": prompt.demos, "teacher": self.teacher_meta()}

    def _proposed(self, prompt: _Prompt, outcome: Outcome) -> list[Record]:
        """The instructions a prompt's answer proposes, as unscreened rows."""
        assert isinstance(outcome.parsed, NewInstructions)
        base_meta = self._base_meta(prompt)
        return [
            Record(
                id=stable_hash(outcome.request_id, j),
                instruction=item.instruction.strip(),
                input=item.input.strip(),
                meta={**base_meta, "instruction_request": request_meta(outcome), "position": j},
            )
            for j, item in enumerate(outcome.parsed.instructions)
        ]

    def _send_likely_responses(self, flow: Flow) -> None:
        """While screening waits on an earlier prompt, send ahead the responses of later prompts
        already answered, for instructions the chain would keep as it stands. Screening later
        decides as always (a submit joins the request sent ahead); what it rejects after all (a
        duplicate of an instruction screened in between) was sent in vain, the price of an engine
        that would otherwise idle behind one slow prompt; so only into room the engine has, never
        displacing a request sure to be used. Order only: no decision changes."""
        if self.would_keep is None or not self.config.send_ahead or flow.room() <= 0:
            return
        self._unscreened = [p for p in self._unscreened if not p.screened and not p.guessed]
        for prompt in self._unscreened:
            outcome = flow.peek(prompt.ticket)
            if outcome is None:
                continue
            if flow.room() <= 0:
                return
            prompt.guessed = True
            for record in self._proposed(prompt, outcome) if outcome.ok else []:
                if self.would_keep(record):
                    flow.send_ahead(self._response_call(record), RESPONSE_STAGE)

    def _send_prompt(
        self, flow: Flow, rng: random.Random, seeds: list[SeedTask], machine: list[Record], number: int, window: int
    ) -> _Prompt:
        round_no, index = divmod(number, window)
        call, demos = self._instruction_call(rng, seeds, machine, round_no, index)
        # first: the next decisions wait on instruction answers, none on a response's
        prompt = _Prompt(flow.submit(call, INSTRUCTION_STAGE, first=True), number, round_no, index, demos)
        self._unscreened.append(prompt)
        return prompt

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
