"""Rebuild the held-out evaluation sets (test.jsonl, dev.jsonl) from the public source snapshots.

Each source is read straight out of a git snapshot at a pinned commit (bare git dir, as the
`fetch` tool or a plain `git clone --bare` leaves it), so the rows are reproducible bit for bit:

    python bench/data/build.py --sentiment-git DIR --topics6-git DIR --snips-git DIR [--only SET]

The raw files are not committed; see each bench/data/<set>/SOURCE.md for the repository, commit
and how to re-fetch. Sampling is seeded (SEED) and stratified by label; exact duplicate texts
(after case and whitespace folding) are removed within and across test/dev, and a text that
occurs under two different labels (cross-posts, conflicting annotations) is dropped everywhere.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import subprocess
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240917
MAX_TEST = 2000
MAX_DEV = 4000

SENTIMENT_COMMIT = "f4e4fcd1004a3f388536741a3c5c6f8c6969711c"  # nthuandrew/DM2023-Lab1-Master
NEWSGROUPS_COMMIT = "2298b3e1c9f66cc3f2d8bf6da5dd68f15b37eb88"  # YunomiXavia/20news-bydate
SNIPS_COMMIT = "b86ac7f1577868c42158d0dec77db50956046696"  # sonos/nlu-benchmark

# The subject-matter partition of the 20 groups given on the dataset's home page
# (http://qwone.com/~jason/20Newsgroups/); label -> the bydate groups it merges.
TOPIC_GROUPS = {
    "computers": [
        "comp.graphics",
        "comp.os.ms-windows.misc",
        "comp.sys.ibm.pc.hardware",
        "comp.sys.mac.hardware",
        "comp.windows.x",
    ],
    "recreation": ["rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey"],
    "science": ["sci.crypt", "sci.electronics", "sci.med", "sci.space"],
    "for sale": ["misc.forsale"],
    "politics": ["talk.politics.misc", "talk.politics.guns", "talk.politics.mideast"],
    "religion": ["talk.religion.misc", "alt.atheism", "soc.religion.christian"],
}
TOPIC_OF_GROUP = {group: label for label, groups in TOPIC_GROUPS.items() for group in groups}
SNIPS_INTENTS = [
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
]
# Posts are cut at 150 words so the rows stay in the length range a small teacher can write
# (generated texts are asked for at most 120); over a third of the posts are longer.
NEWSGROUP_MAX_WORDS = 150

Rows = list[tuple[str, str]]  # (text, label)


def norm(text: str) -> str:
    """The identity used for deduplication: case- and whitespace-folded."""
    return " ".join(text.casefold().split())


def git_show(git_dir: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], check=True, capture_output=True
    ).stdout


def git_tree_files(git_dir: Path, commit: str, prefix: str) -> dict[str, bytes]:
    """Every file under `prefix` at `commit` (one `git archive`, not one process per file)."""
    tar = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", "--format=tar", commit, prefix], check=True, capture_output=True
    ).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                out[member.name] = handle.read()
    return out


def drop_conflicts(rows: Rows) -> Rows:
    """First occurrence of each text; texts seen under more than one label are removed."""
    labels: dict[str, set[str]] = defaultdict(set)
    for text, label in rows:
        labels[norm(text)].add(label)
    seen: set[str] = set()
    out = []
    for text, label in rows:
        key = norm(text)
        if len(labels[key]) == 1 and key not in seen:
            seen.add(key)
            out.append((text, label))
    return out


def stratified(rows: Rows, total: int, rng: random.Random) -> Rows:
    """A label-proportional sample of `total` rows (all rows if fewer); largest remainders fill up."""
    by_label: dict[str, Rows] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    if total >= len(rows):
        picked = list(rows)
    else:
        exact = {label: len(group) * total / len(rows) for label, group in by_label.items()}
        quota = {label: int(share) for label, share in exact.items()}
        for label in sorted(exact, key=lambda k: (quota[k] - exact[k], k))[: total - sum(quota.values())]:
            quota[label] += 1
        picked = [row for label in sorted(by_label) for row in rng.sample(by_label[label], quota[label])]
    rng.shuffle(picked)
    return picked


def split_test_dev(test_pool: Rows, train_pool: Rows, rng: random.Random) -> tuple[Rows, Rows]:
    """Sample test from the test split, then dev from the train split minus anything in test."""
    conflicts = drop_conflicts(test_pool + train_pool)
    allowed = {norm(t) for t, _ in conflicts}
    test = stratified([r for r in drop_conflicts(test_pool) if norm(r[0]) in allowed], MAX_TEST, rng)
    in_test = {norm(t) for t, _ in test}
    train = [r for r in drop_conflicts(train_pool) if norm(r[0]) in allowed and norm(r[0]) not in in_test]
    return test, stratified(train, MAX_DEV, rng)


# -- sentiment: UCI Sentiment Labelled Sentences, Yelp + Amazon parts (no official split) --------------


def sentiment(git_dir: Path) -> tuple[Rows, Rows]:
    by_stratum: dict[tuple[str, str], Rows] = defaultdict(list)
    for source in ("yelp", "amazon_cells"):
        raw = git_show(git_dir, SENTIMENT_COMMIT, f"sentiment labelled sentences/{source}_labelled.txt")
        for line in raw.decode("utf-8").splitlines():
            text, score = line.rsplit("\t", 1)
            label = {"1": "positive", "0": "negative"}[score.strip()]
            by_stratum[(source, label)].append((text.strip(), label))
    # The dataset ships no split: ours halves every (site, label) stratum with the fixed seed.
    rng = random.Random(SEED)
    test_pool: Rows = []
    train_pool: Rows = []
    for stratum in sorted(by_stratum):
        rows = drop_conflicts(by_stratum[stratum])
        rng.shuffle(rows)
        test_pool += rows[: len(rows) // 2]
        train_pool += rows[len(rows) // 2 :]
    return split_test_dev(test_pool, train_pool, rng)


# -- topics6: 20 Newsgroups, "bydate" split, merged into its 6 subject groups --------------------

_ATTRIBUTION = re.compile(r"(writes|wrote|says|said)( in [^:]*)?:\s*$|^In article|^Quoted from|^\s*[>|]", re.I)
_SIGNATURE = re.compile(r"^\s*--+\s*$")
SIGNATURE_MAX_LINES = 12


def clean_post(raw: bytes) -> str:
    """Body only: headers, quoted lines, attributions and the signature block removed."""
    text = raw.decode("latin-1")
    _, _, body = text.partition("\n\n")
    lines = body.rstrip().splitlines()
    # A signature is a short block after a dash-only line; it often opens with "--" and a rule.
    tail = max(0, len(lines) - SIGNATURE_MAX_LINES)
    cut = next((i for i in range(tail, len(lines)) if _SIGNATURE.match(lines[i])), len(lines))
    lines = lines[:cut]
    kept = [line for line in lines if not _ATTRIBUTION.search(line)]
    words = " ".join(kept).split()
    return " ".join(words[:NEWSGROUP_MAX_WORDS])


def topics6(git_dir: Path) -> tuple[Rows, Rows]:
    pools: dict[str, Rows] = {"test": [], "train": []}
    for split in pools:
        prefix = f"20news-bydate/20news-bydate-{split}/"
        files = git_tree_files(git_dir, NEWSGROUPS_COMMIT, prefix)
        for name in sorted(files):
            group = name[len(prefix) :].split("/")[0]
            text = clean_post(files[name])
            if len(text.split()) >= 5:  # a reply that was all quote has nothing left to classify
                pools[split].append((text, TOPIC_OF_GROUP[group]))
    return split_test_dev(pools["test"], pools["train"], random.Random(SEED))


# -- snips: the 7-intent custom-intent-engines benchmark ---------------------------------------------


def _snips_texts(raw: bytes, intent: str) -> list[str]:
    # One training file carries a few bytes that are not UTF-8; those queries are skipped.
    data = json.loads(raw.decode("utf-8", errors="surrogateescape"))
    texts = []
    for query in data[intent]:
        text = " ".join("".join(chunk["text"] for chunk in query["data"]).split())
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            continue
        texts.append(text)
    return texts


def snips(git_dir: Path) -> tuple[Rows, Rows]:
    base = "2017-06-custom-intent-engines"
    test_pool: Rows = []
    train_pool: Rows = []
    for intent in SNIPS_INTENTS:
        test_raw = git_show(git_dir, SNIPS_COMMIT, f"{base}/{intent}/validate_{intent}.json")
        train_raw = git_show(git_dir, SNIPS_COMMIT, f"{base}/{intent}/train_{intent}_full.json")
        test_pool += [(t, intent) for t in _snips_texts(test_raw, intent)]
        train_pool += [(t, intent) for t in _snips_texts(train_raw, intent)]
    return split_test_dev(test_pool, train_pool, random.Random(SEED))


def write(path: Path, rows: Rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for text, label in rows:
            fh.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentiment-git", type=Path)
    parser.add_argument("--topics6-git", type=Path)
    parser.add_argument("--snips-git", type=Path)
    parser.add_argument("--only", choices=["sentiment", "topics6", "snips"])
    args = parser.parse_args()
    builders = {"sentiment": (sentiment, args.sentiment_git), "topics6": (topics6, args.topics6_git)}
    builders["snips"] = (snips, args.snips_git)
    for name, (build, git_dir) in builders.items():
        if (args.only and name != args.only) or git_dir is None:
            continue
        test, dev = build(git_dir)
        out = HERE / name
        out.mkdir(exist_ok=True)
        write(out / "test.jsonl", test)
        write(out / "dev.jsonl", dev)
        for split, rows in (("test", test), ("dev", dev)):
            counts = Counter(label for _, label in rows)
            print(f"{name} {split}: {len(rows)} rows", dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
