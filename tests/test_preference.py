import math

import numpy as np
import pytest
import scipy.optimize

from stylelib.preference import (
    SIMULATED,
    Vote,
    bradley_terry,
    load_votes,
    record_vote,
    simulate_votes,
    wilson_interval,
    win_rates,
)


def test_votes_are_appended_and_read_back(tmp_path):
    path = tmp_path / "sub" / "votes.csv"
    assert load_votes(path) == []
    record_vote(path, Vote("chelsea", "gatys", "gan", "gan"))
    record_vote(path, Vote("coffee", "gan", "gatys", "gatys", time="t"))
    votes = load_votes(path)
    assert [(v.photo, v.winner, v.loser) for v in votes] == [("chelsea", "gan", "gatys"), ("coffee", "gatys", "gan")]
    assert votes[0].time and votes[1].time == "t"
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a vote file"):
        load_votes(tmp_path / "other.csv")


def test_a_vote_must_name_one_of_the_two_methods_shown():
    with pytest.raises(ValueError, match="must be one of"):
        Vote("chelsea", "gatys", "gan", "lite")
    with pytest.raises(ValueError, match="two different"):
        Vote("chelsea", "gan", "gan", "gan")


def test_wilson_interval_matches_known_values_and_contains_the_rate():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3968, abs=1e-4) and high == pytest.approx(0.8922, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_win_rates_count_every_comparison():
    votes = [Vote("p", "a", "b", "a"), Vote("p", "b", "a", "a"), Vote("p", "a", "c", "c")]
    table = win_rates(votes)
    assert table["a"]["comparisons"] == 3 and table["a"]["wins"] == 2
    assert table["b"]["win_rate"] == 0.0 and table["c"]["win_rate"] == 1.0
    assert table["a"]["low"] < 2 / 3 < table["a"]["high"]


def test_bradley_terry_recovers_known_strengths():
    truth = {"weak": -1.0, "middle": 0.0, "strong": 1.0}
    votes = []
    for a in truth:
        for b in truth:
            if a < b:
                p_a = 1 / (1 + math.exp(truth[b] - truth[a]))
                wins_a = round(400 * p_a)
                votes += [Vote("p", a, b, a)] * wins_a + [Vote("p", a, b, b)] * (400 - wins_a)
    fitted = bradley_terry(votes)
    for method, value in truth.items():
        assert fitted[method] == pytest.approx(value, abs=0.05)
    with pytest.raises(ValueError, match="at least two"):
        bradley_terry([])


def test_bradley_terry_with_its_prior_matches_a_direct_maximum_likelihood_fit():
    """MM against scipy's optimiser on the stated model: the votes plus `prior` virtual wins each way per pair."""
    votes = [Vote("p", "a", "b", "a")] * 7 + [Vote("p", "a", "b", "b")] * 2 + [Vote("p", "b", "c", "b")] * 5
    votes += [Vote("p", "a", "d", "a")] * 3 + [Vote("p", "c", "d", "d")] * 1  # c never wins, a never loses to d
    prior = 0.5
    methods = ["a", "b", "c", "d"]
    wins = {(w, x): 0.0 for w in methods for x in methods if w != x}
    for vote in votes:
        loser = vote.right if vote.winner == vote.left else vote.left
        wins[(vote.winner, loser)] += 1
    for key in wins:
        wins[key] += prior

    def negative_log_likelihood(theta):
        strength = dict(zip(methods, theta))
        return -sum(n * (strength[w] - np.logaddexp(strength[w], strength[x])) for (w, x), n in wins.items())

    reference = scipy.optimize.minimize(negative_log_likelihood, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    reference -= reference.mean()
    fitted = bradley_terry(votes, iterations=5000, prior=prior)
    assert [fitted[m] for m in methods] == pytest.approx(list(reference), abs=1e-4)


def test_simulated_votes_are_labelled_and_follow_the_metrics():
    scores = {
        "stylised": {"p1": {"style_ratio": 0.3, "ssim": 0.6}, "p2": {"style_ratio": 0.3, "ssim": 0.6}},
        "photo": {"p1": {"style_ratio": 1.0, "ssim": 1.0}, "p2": {"style_ratio": 1.0, "ssim": 1.0}},
    }
    votes = simulate_votes(scores, votes_per_pair=50, seed=1)
    assert len(votes) == 100 and all(v.rater == SIMULATED for v in votes)
    assert win_rates(votes)["stylised"]["win_rate"] > 0.6
    assert simulate_votes(scores, seed=1) == simulate_votes(scores, seed=1)


def test_preference_widget_records_clicks_to_csv(tmp_path, monkeypatch, capsys):
    import torch

    from stylelib.viz import preference_widget

    outputs = {"p": {"a": torch.zeros(1, 3, 8, 8), "b": torch.ones(1, 3, 8, 8), "c": torch.full((1, 3, 8, 8), 0.5)}}
    path = tmp_path / "votes.csv"
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    assert preference_widget(outputs, path) is None  # papermill and nbval: no widget to leave a text repr
    [picture] = shown  # but a static picture of it
    assert "static picture of the voting widget" in picture._suptitle.get_text() and len(picture.axes) == 3
    monkeypatch.setenv("JPY_SESSION_NAME", "votes.ipynb")
    widget = preference_widget(outputs, path, seed=0)
    left_button, right_button, skip_button = widget.children[1].children
    left_button.click()
    skip_button.click()
    right_button.click()
    votes = load_votes(path)
    assert len(votes) == 2 and all(v.rater == "person" for v in votes)
    assert votes[0].winner == votes[0].left and votes[1].winner == votes[1].right
    assert left_button.disabled and "all pairs seen" in widget.children[2].value
