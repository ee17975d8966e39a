"""Pairwise user-preference votes: record them to CSV, simulate them, turn them into rankings.

A vote says which of two methods' outputs for the same photo a rater preferred. Votes live in
an append-only CSV (one row per vote, never rewritten). Two summaries:
- win rate per method with a 95% Wilson score interval (Wilson 1927), which stays inside [0, 1]
  and behaves with few votes, unlike the normal approximation;
- Bradley-Terry strengths (Bradley & Terry 1952), fitted with Hunter's (2004) MM iterations:
  P(i beats j) = s_i / (s_i + s_j), reported as log-strengths with mean 0.

Simulated votes come from a scripted rater, never a person, and carry rater = "simulated".
"""

from __future__ import annotations

import csv
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

SIMULATED = "simulated"


@dataclass(frozen=True)
class Vote:
    """One comparison: `winner` is `left` or `right` (the methods in the order they were shown)."""

    photo: str
    left: str
    right: str
    winner: str
    rater: str = "person"
    time: str = ""

    def __post_init__(self) -> None:
        if self.winner not in (self.left, self.right):
            raise ValueError(
                f"winner {self.winner!r} must be one of the two methods shown: {self.left!r}, {self.right!r}"
            )
        if self.left == self.right:
            raise ValueError(f"a vote compares two different methods, got {self.left!r} twice")

    @property
    def loser(self) -> str:
        """The method that was not chosen."""
        return self.right if self.winner == self.left else self.left


COLUMNS = tuple(f.name for f in fields(Vote))


def record_vote(path: str | os.PathLike, vote: Vote) -> None:
    """Append one vote to the CSV at `path` (created with a header if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    is_new = not path.exists() or path.stat().st_size == 0
    stamped = vote if vote.time else Vote(**{**asdict(vote), "time": datetime.now(timezone.utc).isoformat()})
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if is_new:
            writer.writeheader()
        writer.writerow(asdict(stamped))


def load_votes(path: str | os.PathLike) -> list[Vote]:
    """All votes in a CSV written by `record_vote` (an empty list if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"'{path}' is not a vote file: columns {sorted(missing)} are missing")
        return [Vote(**{name: row[name] for name in COLUMNS}) for row in reader]


def wilson_interval(wins: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for z = 1.96)."""
    if total == 0:
        return 0.0, 1.0
    rate = wins / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(votes: Sequence[Vote]) -> dict[str, dict[str, float]]:
    """Per method: comparisons, wins, win rate and its 95% Wilson interval."""
    counts: dict[str, list[int]] = {}
    for vote in votes:
        counts.setdefault(vote.winner, [0, 0])[0] += 1
        for method in (vote.left, vote.right):
            counts.setdefault(method, [0, 0])[1] += 1
    table = {}
    for method, (wins, total) in sorted(counts.items()):
        low, high = wilson_interval(wins, total)
        table[method] = {"comparisons": total, "wins": wins, "win_rate": wins / total, "low": low, "high": high}
    return table


def bradley_terry(votes: Sequence[Vote], iterations: int = 500, prior: float = 0.5) -> dict[str, float]:
    """Bradley-Terry log-strengths (mean 0) by MM iterations (Hunter 2004).

    The prior adds `prior` virtual wins each way to every pair of methods (2 * prior virtual games
    per pair), which keeps unbeaten methods finite and pulls sparse pairs towards a tie.
    """
    methods = sorted({m for v in votes for m in (v.left, v.right)})
    if len(methods) < 2:
        raise ValueError("Bradley-Terry needs votes between at least two methods")
    wins = dict.fromkeys(methods, prior * (len(methods) - 1))  # `prior` virtual wins against each other method
    pairs: dict[tuple[str, str], float] = {}
    for vote in votes:
        wins[vote.winner] += 1
        key = tuple(sorted((vote.left, vote.right)))
        pairs[key] = pairs.get(key, 0) + 1
    for a, b in [(a, b) for i, a in enumerate(methods) for b in methods[i + 1 :]]:
        pairs[(a, b)] = pairs.get((a, b), 0) + 2 * prior  # the prior: `prior` virtual wins each way
    strength = dict.fromkeys(methods, 1.0)
    for _ in range(iterations):
        updated = {}
        for m in methods:
            denominator = sum(n / (strength[a] + strength[b]) for (a, b), n in pairs.items() if m in (a, b))
            updated[m] = wins[m] / denominator
        mean_log = sum(math.log(s) for s in updated.values()) / len(methods)
        strength = {m: s / math.exp(mean_log) for m, s in updated.items()}
    return {m: math.log(s) for m, s in strength.items()}


def preference_utility(scores: Mapping[str, float]) -> float:
    """The simulated rater's taste: more style (lower style ratio) and more kept structure (higher SSIM), equally."""
    return -math.log(max(scores["style_ratio"], 1e-6)) + math.log(max(scores["ssim"], 1e-6))


def simulate_votes(
    scores: Mapping[str, Mapping[str, Mapping[str, float]]], votes_per_pair: int = 10, noise: float = 0.5, seed: int = 0
) -> list[Vote]:
    """Votes of a scripted rater from `scores[method][photo]` metrics: logistic choice on the utility gap / noise."""
    rng = random.Random(seed)
    methods = sorted(scores)
    photos = sorted(set.intersection(*(set(scores[m]) for m in methods)))
    votes = []
    for photo in photos:
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                gap = preference_utility(scores[a][photo]) - preference_utility(scores[b][photo])
                p_a = 1 / (1 + math.exp(-gap / noise))
                for _ in range(votes_per_pair):
                    left, right = (a, b) if rng.random() < 0.5 else (b, a)
                    winner = a if rng.random() < p_a else b
                    votes.append(Vote(photo, left, right, winner, rater=SIMULATED, time="simulated"))
    return votes
