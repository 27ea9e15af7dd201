"""Synthetic instruction text for dedup benchmarks and tests, plus injected near-duplicates.

No dataset hub is reachable, so rows are generated from a seeded grammar of Self-Instruct-like
task shapes (imperatives and questions over a few hundred topics, audiences and constraints).
Random rows share the template words real instructions share ("the", "of", "for a"), which
keeps ROUGE-L between unrelated rows in the 0.1-0.5 band seen in Alpaca data. Near-duplicates
are copies of an earlier row with one small edit, as a teacher produces when it echoes a demo.

    rows, dups = corpus(20_000, dup_rate=0.1, seed=0)   # dups: {row index: source row index}
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


VERBS = _words(
    "Explain Describe Summarize Compare Outline List Suggest Give Write Draft Rewrite Translate Classify "
    "Rank Plan Design Propose Evaluate Critique Analyze Predict Estimate Recommend Create Brainstorm "
    "Identify Define Illustrate Justify Review Simplify Paraphrase Generate Compose Sketch Contrast "
    "Debate Argue Teach"
)
TOPICS = _words(
    "the water cycle|photosynthesis|compound interest|the French revolution|plate tectonics|"
    "machine learning|a balanced diet|climate change|the stock market|renewable energy|black holes|"
    "the immune system|inflation|remote work|public transport|urban gardening|sleep hygiene|"
    "time management|the printing press|vaccines|electric cars|ocean currents|the Roman empire|"
    "supply and demand|recycling|honeybees|volcanoes|jazz music|the internet|cryptography|chess openings|"
    "marathon training|sourdough baking|job interviews|cover letters|first aid|budget travel|"
    "home insurance|credit scores|mortgage rates|tax returns|small business loans|social media marketing|"
    "customer support|project management|team meetings|agile development|code reviews|unit testing|"
    "database indexing|cloud computing|password security|phishing emails|data privacy|the solar system|"
    "the moon landing|dinosaurs|the human heart|antibiotics|meditation|yoga|composting|bird migration|"
    "coral reefs|rainforests|deserts|glaciers|earthquakes|hurricanes|wind turbines|solar panels|"
    "nuclear power|the periodic table|chemical bonds|gravity|electricity|magnetism|sound waves|"
    "light and color|fractions|prime numbers|probability|statistics|geometry|algebra|calculus|"
    "logic puzzles|poetry|novels|short stories|film reviews|museum visits|public speaking|negotiation|"
    "leadership|volunteering|parenting|pet care|dog training|houseplants|home repairs|woodworking|"
    "knitting|photography|painting|pottery|gardening",
    "|",
)
AUDIENCES = _words(
    "a ten-year-old|a busy parent|a first-year student|a retired teacher|a software engineer|"
    "a small business owner|a new employee|a nervous traveller|a curious teenager|a hospital nurse|"
    "a city council|a book club|a job seeker|a farmer|a museum guide|an exchange student|a sports coach|"
    "a newspaper editor|a landlord|a startup founder|a school principal|a scout troop|a chemistry class|"
    "a history podcast",
    "|",
)
FORMS = _words(
    "in three sentences|in simple words|as a bulleted list|in under fifty words|with one concrete example|"
    "as a short poem|as a step-by-step guide|with pros and cons|as a table|in a friendly tone|"
    "in a formal tone|as a numbered checklist|with a short analogy|in one paragraph|as a tweet|"
    "as a dialogue between two people|with three key facts|with a catchy title|as an email|"
    "as interview questions",
    "|",
)
ASPECTS = _words(
    "main causes|common myths|key benefits|hidden costs|biggest risks|history|future|basic rules|"
    "best practices|typical mistakes|ethical questions|environmental impact|economic effects|"
    "main arguments|first steps|long-term effects|most important terms|practical uses|open problems|"
    "safety tips",
    "|",
)
QUESTIONS = (
    "What are the {aspect} of {topic}?",
    "How would you explain {topic} to {audience}?",
    "Why do people disagree about the {aspect} of {topic}?",
    "Which {aspect} of {topic} matter most for {audience}, and why?",
    "What should {audience} know about {topic} before getting started?",
    "How has {topic} changed over the last fifty years?",
)
IMPERATIVES = (
    "{verb} {topic} {form}.",
    "{verb} the {aspect} of {topic} for {audience}.",
    "{verb} the {aspect} of {topic} {form}.",
    "{verb} how {topic} affects {audience} {form}.",
    "{verb} a lesson plan about {topic} for {audience}.",
    "{verb} {topic} and {topic2} {form}.",
    "{verb} the {aspect} of {topic} and {topic2} for {audience} {form}.",
    "{verb} three questions {audience} might ask about {topic}.",
    "{verb} a {adj} plan for {object} that {audience} would enjoy.",
    "{verb} {object} for {audience} using ideas from {topic}.",
    "{verb} five {adj} names for {object}.",
    "{verb} a {adj} slogan for {object} {form}.",
    "{verb} why {topic} is {adj} compared with {topic2}.",
    "Help {audience} prepare {object} on a {adj} budget.",
    "Imagine you are {audience}. {verb} {object} {form}.",
)
OBJECTS = _words(
    "a birthday party|a weekly newsletter|a grocery list|a hiking trip|a wedding toast|"
    "a science fair project|a charity run|a podcast episode|a product launch|a job advert|a mobile app|"
    "a board game|a recipe book|a garden shed|a neighbourhood clean-up|a family reunion|a coding bootcamp|"
    "a library tour|a yoga class|a bike repair shop|a farmers market|a chess club|a film festival|"
    "a school trip|a bakery menu|a travel blog|a museum exhibit|a town hall meeting|a fundraising dinner|"
    "a language exchange|a camping checklist|a retirement plan|a home office|a thank-you note|"
    "a press release|a user manual|a safety poster|a quiz night",
    "|",
)
ADJECTIVES = _words(
    "cheap|quick|healthy|creative|formal|funny|surprising|practical|detailed|honest|memorable|persuasive|"
    "balanced|gentle|bold|original|realistic|playful|clear|inclusive|cautious|ambitious|modern|"
    "traditional",
    "|",
)
FILLER = _words(
    "please|also|briefly|clearly|carefully|today|again|really|simply|first|then|finally|especially|"
    "honestly|quickly|now|here|exactly|mostly|together",
    "|",
)


CONTEXT = (
    "Keep in mind that {audience} cares about {topic}.",
    "The result should feel {adj}.",
    "Mention {topic} at least once.",
    "Avoid jargon that {audience} would not know.",
    "Assume the reader already knows {topic}.",
)


def instruction(rng: random.Random) -> str:
    template = rng.choice(QUESTIONS if rng.random() < 0.3 else IMPERATIVES)
    text = template.format(
        verb=rng.choice(VERBS),
        topic=rng.choice(TOPICS),
        topic2=rng.choice(TOPICS),
        audience=rng.choice(AUDIENCES),
        form=rng.choice(FORMS),
        aspect=rng.choice(ASPECTS),
        object=rng.choice(OBJECTS),
        adj=rng.choice(ADJECTIVES),
    )
    if rng.random() < 0.3:  # a context sentence makes lengths vary as in real seed data
        text += " " + rng.choice(CONTEXT).format(
            audience=rng.choice(AUDIENCES), topic=rng.choice(TOPICS), adj=rng.choice(ADJECTIVES)
        )
    return text


def near_duplicate(text: str, rng: random.Random) -> str:
    """One small edit of the kind a teacher makes when it echoes a demo."""
    words = text.split()
    op = rng.choice(("case", "insert", "delete", "substitute", "swap", "punct"))
    if op == "case":
        return text.lower() if rng.random() < 0.5 else text.upper()
    if op == "punct":
        return text.rstrip(".?!") + rng.choice(("!", "?", " .", "..."))
    i = rng.randrange(len(words))
    if op == "insert":
        words.insert(i, rng.choice(FILLER))
    elif op == "delete" and len(words) > 6:
        del words[i]
    elif op == "substitute":
        words[i] = rng.choice(FILLER)
    elif op == "swap" and len(words) > 1:
        j = min(i + 1, len(words) - 1) if i + 1 < len(words) else i - 1
        words[i], words[j] = words[j], words[i]
    return " ".join(words)


def corpus(n: int, dup_rate: float = 0.1, seed: int = 0) -> tuple[list[str], dict[int, int]]:
    """n rows; about dup_rate of them near-duplicates of an earlier row ({dup index: source index})."""
    rng = random.Random(seed)
    rows: list[str] = []
    dups: dict[int, int] = {}
    for i in range(n):
        if i > 10 and rng.random() < dup_rate:
            source = rng.randrange(i)
            while source in dups:  # edit an original, so the pair's similarity is one edit apart
                source = rng.randrange(i)
            rows.append(near_duplicate(rows[source], rng))
            dups[i] = source
        else:
            rows.append(instruction(rng))
    return rows, dups


def iter_corpus(n: int, dup_rate: float = 0.1, seed: int = 0) -> Iterator[tuple[str, bool]]:
    """Streaming variant for very large n: (text, is_injected_duplicate); near-duplicates copy
    one of the last 1000 originals, so memory stays flat."""
    rng = random.Random(seed)
    recent: deque[str] = deque(maxlen=1000)
    for _ in range(n):
        if recent and rng.random() < dup_rate:
            yield near_duplicate(rng.choice(recent), rng), True
            continue
        text = instruction(rng)
        recent.append(text)
        yield text, False
