"""Metric fixtures from scikit-learn (Debian python3-sklearn): probabilities with ties, a
class the model never predicts, and sklearn's own numbers for every metric in metrics.json.
Run: /usr/bin/python3 tests/fixtures_metrics.py"""
import numpy as np
import torch
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)

from fixture_util import save


def case(name, n, c, seed, quantize, never_predict=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[labels]
    if never_predict is not None:
        logits[:, never_predict] -= 10.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = p / p.sum(1, keepdims=True)
    if quantize:  # coarse probabilities: many ties inside each class's scores
        p = np.round(p * quantize) / quantize
        p = p / p.sum(1, keepdims=True)
    p = p.astype(np.float32)
    pf = p.astype(np.float64)
    pred = p.argmax(1)
    prec, rec, f1, sup = precision_recall_fscore_support(labels, pred, labels=range(c), zero_division=0)
    out = {
        "probs": torch.from_numpy(p),
        "labels": torch.from_numpy(labels.astype(np.int64)),
        "accuracy": torch.tensor([accuracy_score(labels, pred)], dtype=torch.float32),
        "balanced_accuracy": torch.tensor([balanced_accuracy_score(labels, pred)], dtype=torch.float32),
        "macro_auc": torch.tensor([roc_auc_score(labels, pf, multi_class="ovr", average="macro")], dtype=torch.float32),
        "auc": torch.tensor([roc_auc_score(labels == j, p[:, j]) for j in range(c)], dtype=torch.float32),
        "precision": torch.tensor(prec, dtype=torch.float32),
        "recall": torch.tensor(rec, dtype=torch.float32),
        "f1": torch.tensor(f1, dtype=torch.float32),
        "support": torch.tensor(sup.astype(np.int64)),
        "confusion": torch.from_numpy(confusion_matrix(labels, pred, labels=range(c)).astype(np.int64)),
    }
    save(name, out)


case("metrics_plain", 300, 5, 1, None)
case("metrics_ties", 200, 5, 2, 8, never_predict=3)
