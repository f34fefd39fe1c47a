"""Small stand-ins with the network contract of guided and distribution-head models
(/CONTRACT: generator(l_norm, hint, ref); logits over Q ab bins at half size), for testing the
pipeline before (and besides) real guided models: a 5-bin "abbins" and fake networks whose
answers are known, so a test can say exactly what colour must come out where."""

import torch
import torch.nn.functional as F

# normalised ab of the 5 bins: gray, +a (red), -a (green), +b (yellow), -b (blue)
CENTERS = torch.tensor([[0.0, 0.0], [0.5, 0.0], [-0.5, 0.0], [0.0, 0.5], [0.0, -0.5]])


class FakeBins:
    """What the pipeline uses of colorgan.core.abbins, over 5 bins (numpy in, numpy out;
    tensors in, tensors out)."""

    Q = len(CENTERS)

    @staticmethod
    def centers():
        return CENTERS.numpy()

    @staticmethod
    def annealed_mean(logits, temperature):
        x = torch.as_tensor(logits)
        p = torch.softmax(torch.log_softmax(x, dim=1) / temperature, dim=1)
        return _like(torch.einsum("bqhw,qc->bchw", p, CENTERS), logits)

    @staticmethod
    def top_colors(logits_at_pixel, k):
        p = torch.softmax(torch.as_tensor(logits_at_pixel), dim=0)
        top = torch.topk(p, k)
        return [
            (CENTERS[i].numpy(), float(v)) for v, i in zip(top.values, top.indices, strict=True)
        ]

    @staticmethod
    def histogram(ab, smoothing=None):
        flat = torch.as_tensor(ab).reshape(2, -1).T
        nearest = torch.cdist(flat, CENTERS).argmin(dim=1)
        hist = torch.bincount(nearest, minlength=len(CENTERS)).float() / len(nearest)
        return _like(hist, ab)


def _like(tensor, example):
    return tensor if isinstance(example, torch.Tensor) else tensor.numpy()


def nearest_bin(ab):
    """(B,2,H,W) normalised ab -> (B,H,W) index of the nearest bin."""
    d = ((ab[:, :, None] - CENTERS.T[None, :, :, None, None]) ** 2).sum(dim=1)
    return d.argmin(dim=1)


class GuidedAb:
    """head "ab", guidance: ab = the hint's ab where the mask is set, else the reference's
    mean ab (histogram-weighted bin centres), else zero. Records what it was given."""

    size_multiple = 4

    def __init__(self):
        self.calls = []

    def __call__(self, l_norm, hint, ref):
        self.calls.append((l_norm.shape, hint.clone(), ref.clone()))
        b, _, h, w = l_norm.shape
        base = (ref[:, : FakeBins.Q] @ CENTERS).view(b, 2, 1, 1).expand(b, 2, h, w)
        mask = hint[:, 2:3]
        return mask * hint[:, :2] + (1 - mask) * base


class GuidedDistribution:
    """head "distribution", guidance: logits (B,Q,H/2,W/2) mildly favouring red over gray, strongly
    the hint's bin near hints, and the reference's bins (log of its histogram) everywhere."""

    size_multiple = 4

    def __call__(self, l_norm, hint, ref):
        b, _, h, w = l_norm.shape
        logits = torch.zeros(b, FakeBins.Q, h // 2, w // 2)
        logits[:, 1] = 1.0  # red first, gray second: vividness has something to sharpen
        logits[:, 0] = 0.5
        mask = F.max_pool2d(hint[:, 2:3], 2)
        ab = F.avg_pool2d(hint[:, :2] * hint[:, 2:3], 2) / F.avg_pool2d(hint[:, 2:3], 2).clamp(
            min=1e-6
        )
        onehot = F.one_hot(nearest_bin(ab), FakeBins.Q).permute(0, 3, 1, 2).float()
        logits = logits + 8.0 * mask * onehot
        flag = ref[:, FakeBins.Q :].view(b, 1, 1, 1)
        return logits + flag * torch.log(ref[:, : FakeBins.Q] + 1e-3).view(b, -1, 1, 1)


def guided_colorizer(kind="ab", **kwargs):
    from colorgan.pipeline.colorizer import Colorizer

    net = GuidedAb() if kind == "ab" else GuidedDistribution()
    head = "ab" if kind == "ab" else "distribution"
    options = {"working_size": 32, "size_multiple": 4, **kwargs}
    return Colorizer(net, head=head, guided=True, bins=FakeBins, **options)
