"""A scripted, deterministic teacher for unit tests of pipeline logic (never for integration tests).

Answers depend only on the request (its schema and seed), like a seeded real engine, so tests
can assert byte-identical reruns. Faults can be injected per request with `faults`.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence

from generator.teachers.base import ChatRequest, Completion

VERBS = ["Explain", "Describe", "List", "Summarize", "Compare", "Suggest", "Outline", "Give", "Plan", "Rewrite"]
TOPICS = [
    "the water cycle",
    "a healthy breakfast",
    "budget travel in Spain",
    "how vaccines work",
    "the rules of chess",
    "saving for retirement",
    "learning a new language",
    "the history of bicycles",
    "composting at home",
    "time management for students",
    "how bridges stay up",
    "the life of honeybees",
    "solar panels on roofs",
    "writing a cover letter",
    "training a puppy",
    "the causes of inflation",
    "planting tomatoes",
    "public speaking nerves",
    "recycling plastics",
    "the phases of the moon",
    "baking sourdough bread",
    "choosing a laptop",
    "first aid for burns",
    "running a marathon",
    "the invention of printing",
]
QUALIFIERS = [
    "for a beginner",
    "in three steps",
    "in simple words",
    "with one example",
    "for a busy parent",
    "in under fifty words",
    "as a short checklist",
    "for a school newsletter",
    "with pros and cons",
    "for someone on a tight budget",
]

Fault = Callable[[ChatRequest], Completion | None]
SIGNAL = 1.5  # nats a planted label adds to its score
BIAS = 2.5  # nats a biased classifier adds to its favourite label, text or no text


def schema_title(request: ChatRequest) -> str:
    return str((request.json_schema or {}).get("title", ""))


EVOL_ADDITIONS = (
    "Also explain the trade-offs involved for",
    "Give three concrete steps, citing",
    "Justify each claim with",
)


def _section(body: str, start: str, end: str) -> str:
    return body.split(start, 1)[1].split(end, 1)[0] if start in body else ""


def scripted_preference(body: str) -> str:
    reference = set(_section(body, "Reference answer (written by an expert):\n", "\n\nAnswer A:").lower().split())
    a = set(_section(body, "Answer A:\n", "\n\nAnswer B:").lower().split())
    b = set(_section(body, "Answer B:\n", "\n\nJudge which").lower().split())
    overlap_a, overlap_b = len(a & reference), len(b & reference)
    return "A" if overlap_a > overlap_b else "B" if overlap_b > overlap_a else "tie"


class ScriptedTeacher:
    def __init__(
        self,
        faults: Fault | None = None,
        model: str = "scripted",
        revision: str = "v1",
        mislabel_rate: float = 0.0,
        biased_to: str | None = None,
    ):
        self.faults = faults
        self.mislabel_rate = mislabel_rate
        # A biased classifier: its votes name this label for every text, and its label scores
        # lean to it by BIAS nats whatever the text (what calibration should undo).
        self.biased_to = biased_to
        self._model = model
        self._revision = revision
        self.calls: list[ChatRequest] = []
        self.batches: list[int] = []
        self.closed = False

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def revision(self) -> str:
        return self._revision

    @property
    def endpoint(self) -> str:
        return "scripted"

    def answer(self, request: ChatRequest) -> Completion:
        if self.faults is not None:
            forced = self.faults(request)
            if forced is not None:
                return forced
        rng = random.Random(request.seed)
        title = schema_title(request)
        if request.score is not None:
            return self.scored(request)
        if title == "NewInstructions":
            items = []
            for _ in range(rng.randint(2, 5)):
                instruction = f"{rng.choice(VERBS)} {rng.choice(TOPICS)} {rng.choice(QUALIFIERS)}."
                items.append({"instruction": instruction, "input": "" if rng.random() < 0.7 else "Some context."})
            text = json.dumps({"instructions": items})
        elif title == "Response":
            prompt = request.messages[-1]["content"].splitlines()[0]
            text = json.dumps({"output": f"Here is a careful answer to: {prompt} (variant {rng.randint(0, 999)})"})
        elif title == "JudgeScores":
            # Scores follow a planted marker so tests know which rows a judge should drop.
            body = request.messages[-1]["content"]
            low = "careless" in body
            scores = {c: (2 if low else rng.randint(6, 10)) for c in ("accuracy", "relevance", "clarity", "usefulness")}
            text = json.dumps({"rationale": "scripted", **scores})
        elif title == "PairwiseVerdict":
            # Prefers the answer sharing more words with the reference: a judge tests can predict.
            body = request.messages[-1]["content"]
            winner = scripted_preference(body)
            text = json.dumps({"reason": "scripted", "winner": winner})
        elif title == "EvolvedInstruction":
            body = request.messages[-1]["content"]
            parent = _section(body, "Given prompt:\n", "\n\n").strip()
            extra = f"{rng.choice(EVOL_ADDITIONS)} {rng.choice(TOPICS)} #{rng.randint(0, 999)}"
            text = json.dumps({"instruction": f"{parent} {extra}."})
        elif title == "Paraphrase":
            source = _section(request.messages[-1]["content"], "Instruction:\n", "\n\n").strip()
            words = source.rstrip(".").split()
            # Reversed word order: the same words (near-duplicate by bag) but a new sequence.
            text = json.dumps(
                {"instruction": f"In other words: {' '.join(reversed(words))} (take {rng.randint(0, 99)})"}
            )
        elif title == "Translation":
            body = request.messages[-1]["content"]
            language = body.split("Translate the text below into ", 1)[1].split(".", 1)[0]
            source = _section(body, "Text:\n", "\n\n").strip()
            text = json.dumps({"text": f"{source} ({language})"})
        elif title == "FollowUp":
            text = json.dumps({"question": f"Can you give an example of {rng.choice(TOPICS)}?"})
        elif title == "LabeledTexts":
            prompt = request.messages[-1]["content"]
            label = prompt.split('belong to the label "', 1)[1].split('"', 1)[0]
            texts = []
            for _ in range(rng.randint(1, 3)):
                topic, qualifier = rng.choice(TOPICS), rng.choice(QUALIFIERS)
                texts.append(f"{rng.choice(VERBS)} {topic}: a {label} one, {qualifier} #{rng.randint(0, 99)}")
            text = json.dumps({"texts": texts})
        elif request.choices:
            # Blind classification: find the label word the scripted generator planted in the text.
            body = request.messages[-1]["content"].split("Text:", 1)[-1]
            found = [c for c in request.choices if f"a {c} one" in body]
            text = found[0] if found else rng.choice(request.choices)
            if rng.random() < self.mislabel_rate:
                text = rng.choice([c for c in request.choices if c != text] or request.choices)
            if self.biased_to in request.choices:
                text = self.biased_to
        else:
            text = json.dumps({"text": f"free text {rng.randint(0, 10**6)}"})
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
            completion_tokens=len(text.split()),
        )

    def scored(self, request: ChatRequest) -> Completion:
        """Scores a test can predict: the label planted in a text ("a X one") is the likely one."""
        if request.score == "choices":
            choices = request.choices or []
            body = request.messages[-1]["content"].split("Text:", 1)[-1]
            logits = {c: SIGNAL * (f"a {c} one" in body) + BIAS * (c == self.biased_to) for c in choices}
            norm = math.log(sum(math.exp(v) for v in logits.values()))
            scores = {c: v - norm for c, v in logits.items()}
            best = max(choices, key=lambda c: scores[c])
            return Completion(text=best, finish_reason="stop", prompt_tokens=len(body.split()), choice_logprobs=scores)
        prompt, reply = request.messages[-2]["content"], request.messages[-1]["content"]
        label = prompt.split('belongs to the label "', 1)[1].split('"', 1)[0]
        words = len(reply.split())
        total = -2.0 * words + SIGNAL * (f"a {label} one" in reply)
        return Completion(text="", finish_reason="stop", prompt_tokens=words, reply_logprob=total, reply_tokens=words)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.batches.append(len(requests))
        self.calls.extend(requests)
        return [self.answer(r) for r in requests]

    def close(self) -> None:
        self.closed = True


class StreamingScriptedTeacher(ScriptedTeacher):
    """Yields completions one at a time in a shuffled order (like an engine finishing requests
    out of order), with a delay, so that a kill can land between any two journal appends."""

    def __init__(self, delay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def stream(self, requests: Sequence[ChatRequest]):
        import time

        self.batches.append(len(requests))
        self.calls.extend(requests)
        order = list(range(len(requests)))
        random.Random(len(requests)).shuffle(order)
        for i in order:
            if self.delay:
                time.sleep(self.delay)
            yield i, self.answer(requests[i])


class SessionScriptedTeacher(ScriptedTeacher):
    """A `SessionTeacher`: requests are submitted one by one and finish in a shuffled order (from
    `order_seed`; or in submission order), a few at a time, like an engine holding many requests of different lengths.
    `held` records how many requests it held at each `wait`; `log` the submit/finish sequence."""

    def __init__(self, in_flight: int = 8, order_seed: int = 0, shuffle: bool = True, **kwargs):
        super().__init__(**kwargs)
        self._in_flight = in_flight
        self.shuffle = shuffle  # False: requests finish in the order they were submitted
        self.rng = random.Random(order_seed)
        self.held: list[int] = []
        self.log: list[tuple[str, str, ChatRequest]] = []  # ("submit" | "finish", schema title, request)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def open_session(self) -> _ScriptedSession:
        return _ScriptedSession(self)


class _ScriptedSession:
    def __init__(self, teacher: SessionScriptedTeacher):
        self.teacher = teacher
        self.pending: list[tuple[int, ChatRequest]] = []

    def submit(self, items: Sequence[tuple[int, ChatRequest]]) -> None:
        for tag, request in items:
            self.teacher.calls.append(request)
            self.teacher.log.append(("submit", schema_title(request), request))
            self.pending.append((tag, request))

    def wait(self) -> list[tuple[int, Completion]]:
        teacher = self.teacher
        teacher.held.append(len(self.pending))
        if not self.pending:
            return []
        if teacher.shuffle:
            teacher.rng.shuffle(self.pending)
        cut = teacher.rng.randint(1, min(3, len(self.pending)))
        done, self.pending = self.pending[:cut], self.pending[cut:]
        for _, request in done:
            teacher.log.append(("finish", schema_title(request), request))
        return [(tag, teacher.answer(request)) for tag, request in done]

    def close(self) -> None:
        self.pending = []


def requests_beyond(streamed: Sequence[ChatRequest], batched: Sequence[ChatRequest]) -> list[ChatRequest]:
    """The requests a streaming run sent that a round-based run of the same config did not, after
    checking that it sent each of the round-based run's requests, and none twice."""

    def key(request: ChatRequest) -> str:
        return request.request_id("scripted", "v1", "scripted")

    sent = [key(r) for r in streamed]
    used = {key(r) for r in batched}
    assert len(set(sent)) == len(sent), "a request was sent twice"
    assert used <= set(sent), "a request of the round-based run was never sent"
    return [r for r, k in zip(streamed, sent, strict=True) if k not in used]
