"""Temperature-scaling fixture for tests/test_calibration.c: the temperature that minimises
the NLL of softmax(logits / T), found by PyTorch's LBFGS on log T (float64, strong Wolfe),
and the expected calibration error by its usual definition: 15 equal-width top-1
confidence bins (lo, hi] with edges b/15, ECE = sum_b |acc_b - conf_b| * n_b / n.
Three cases: overconfident logits (T > 1), underconfident ones (T < 1), and float32
probabilities of the first case (the C side fits on log p, as `liver-vlm eval` does).
Run: /usr/bin/python3 tests/fixtures_calibration.py"""
import numpy as np
import torch

from fixture_util import save, seeded

N, C, BINS = 600, 5, 15


def make_logits(g, sharpness):
    labels = torch.randint(0, C, (N,), generator=g)
    base = torch.randn(N, C, generator=g, dtype=torch.float64) * 1.5
    base[torch.arange(N), labels] += 1.2  # informative, but far from separable
    return (base * sharpness).float(), labels


def fit_temperature(logits, labels):
    z = logits.double()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=1000, tolerance_grad=1e-14, tolerance_change=1e-16,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), labels)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    return float(log_t.exp())


def nll(z, labels, t):
    return float(torch.nn.functional.cross_entropy(z.double() / t, labels))


def ece(z, labels, t):
    p = torch.softmax(z.double() / t, dim=1).numpy()
    conf = p.max(axis=1)
    pred = z.numpy().argmax(axis=1)  # arg-max of the logits, first on ties
    acc = (pred == labels.numpy()).astype(np.float64)
    total = 0.0
    for b in range(BINS):
        lo, hi = b / BINS, (b + 1) / BINS
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += abs(acc[m].mean() - conf[m].mean()) * m.sum() / len(conf)
    return total


def case(out, name, logits, labels):
    z = logits.double()
    t = fit_temperature(logits, labels)
    out[name + ".logits"] = logits
    out[name + ".labels"] = labels.int()
    vals = [t, nll(z, labels, 1.0), nll(z, labels, t), ece(z, labels, 1.0), ece(z, labels, t)]
    # temperature, nll_before, nll_after, ece_before, ece_after
    out[name + ".expect"] = torch.tensor(vals, dtype=torch.float32)  # safetensors fixtures are f32
    print(f"{name}: T={t:.6f} nll {vals[1]:.5f} -> {vals[2]:.5f}  ece {vals[3]:.5f} -> {vals[4]:.5f}")


def main():
    torch.set_num_threads(1)
    g = seeded(7)
    out = {}
    over, y_over = make_logits(g, 3.0)
    case(out, "over", over, y_over)
    under, y_under = make_logits(g, 0.35)
    case(out, "under", under, y_under)
    # float32 probabilities as `eval` holds them; log p is the logit up to a row constant.
    probs = torch.softmax(over.double(), dim=1).float()
    case(out, "fromprobs", torch.log(probs.double()).float(), y_over)
    out["fromprobs.logits"] = probs  # the C side starts from the probabilities themselves
    save("calibration", out, {"N": N, "C": C, "bins": BINS})


if __name__ == "__main__":
    main()
