"""cross_entropy fixture: torch.nn.functional.cross_entropy (mean) forward, softmax and the
gradient w.r.t. the logits. Run: /usr/bin/python3 tests/fixtures_cross_entropy.py"""
import torch

from fixture_util import randn, save, seeded

g = seeded(7)
b, c = 9, 5
logits = randn(b, c, g=g, scale=3.0).requires_grad_(True)
labels = torch.randint(0, c, (b,), generator=g)
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()
save("cross_entropy", {"logits": logits, "labels": labels, "loss": loss.reshape(1),
                       "probs": torch.softmax(logits, 1), "dlogits": logits.grad})
