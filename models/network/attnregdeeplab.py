"""AttnRegDeepLab (our reading of arXiv 2511.18454, ARCHITECTURE.md section 4).

DeepLabV3+ whose skip connections pass through Attention Gates (Oktay et al. 2018), a Multi-Scale
Regression Head whose global embedding is injected back into the segmentation branch (FiLM), so one
forward pass gives masks, a fragmentation fraction and the attention maps shown to the user.

Parameter names start with encoder., aspp., decoder., seg_head., reg_head., injection. so that the
two training stages can freeze by prefix. The optional boundary refiner belongs to the seg head
(seg_head.refine.): a third, "refine" stage can train it alone over a finished network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 3
AREA_FEATURES = 8  # soft and hard fractions of the 3 classes, and the fragment share of each
AREA_SCALE = 10.0  # pooled features vary by ~0.1; scaled up, the area estimate is not drowned among ~1,000 inputs
PARAM_PREFIXES = ("encoder.", "aspp.", "decoder.", "seg_head.", "reg_head.", "injection.")
# Channels of the encoder outputs at strides 2 (stem, before max-pooling), 4, 8, 16 and 16 (dilated).
_ENCODER_CHANNELS = {
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
}
_STRIDE_TO_LEVEL = {2: 0, 4: 1, 8: 2}
INPUT_NORMS = ("fixed", "per_image")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture switches; stored in the weights sidecar so a file rebuilds its own network."""

    encoder: str = "resnet18"
    aspp_channels: int = 128
    decoder_channels: int = 128
    skip_channels: int = 48
    # Gated skips: stride 4 always; 2 adds a light full-detail stage from the stem (fragments are a few px),
    # 8 a second semantic one.
    skip_strides: tuple[int, ...] = (4,)
    fine_channels: int = 24  # width of the stride-2 stage (kept narrow: it runs on 4x the pixels)
    fine_skip_channels: int = 12
    attention_gates: bool = True
    regression_head: bool = True
    feature_injection: bool = True
    embedding_dim: int = 128
    atrous_rates: tuple[int, ...] = (6, 12, 18)
    input_size: int = 256
    # "shuffle": the seg head predicts an r x r sub-pixel block per decoder cell (PixelShuffle, r = the finest
    # skip's stride), so masks keep detail finer than the decoder map; "bilinear": the classic DeepLabV3+
    # upsampling of coarse logits.
    seg_upsample: str = "shuffle"
    # The regression head also reads the seg head's own area estimate of the un-injected decoder map (soft and
    # hard class fractions, fragment share): the fraction is a ratio of pixel counts, which average-pooled
    # features only approximate. The seg head then belongs to the frozen half (stage 2 refines via injection).
    area_input: bool = False
    # Boundary refiner (0 = none): a few narrow convolutions at stride 2 over the image and the class
    # probabilities correct the logits near edges, which the stride-4 decoder cannot place (fragments are a
    # few px across; a perfect stride-4 map tops out at fragment Dice ~0.87, bench/resolution_ceiling.py).
    refine_width: int = 0
    refine_dilations: tuple[int, ...] = (1, 2, 1)
    # What the network reads (models/network/canonical.py): False = the whole frame resized to input_size (every model
    # before the real-embryo one); True = a square around the embryo, crop_margin times its extent, so every
    # embryo reaches the network at about the same scale whatever the frame size and optics.
    canonical_crop: bool = False
    crop_margin: float = 1.4
    # "fixed": (x/255 - NORM_MEAN) / NORM_STD; "per_image": each input standardised by its own mean and
    # spread, so a dark EmbryoScope well and a light bright-field dish reach the network alike.
    input_norm: str = "fixed"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["skip_strides"] = list(self.skip_strides)
        d["atrous_rates"] = list(self.atrous_rates)
        d["refine_dilations"] = list(self.refine_dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """A config from a sidecar; a value of the wrong kind is a ValueError naming the key (files get edited)."""
        if not isinstance(d, dict):
            raise ValueError(f"config must be a JSON object, not {type(d).__name__}")
        defaults = cls()
        known = {}
        for key, value in d.items():
            if key not in cls.__dataclass_fields__:
                continue  # a newer program's switch: ignored, as its default is what this program builds
            default = getattr(defaults, key)
            if isinstance(default, tuple):
                ok = isinstance(value, list | tuple) and all(type(v) is int for v in value)
                value = tuple(value) if ok else value
            else:  # bool before int: True is an int to isinstance
                ok = type(value) is type(default) or (type(default) is int and type(value) is float and value % 1 == 0)
                ok = ok or (type(default) is float and type(value) is int)
                value = type(default)(value) if ok and type(default) in (int, float) else value
            if not ok:
                raise ValueError(f"config key {key!r} must be like {default!r}, not {value!r}")
            known[key] = value
        if known.get("encoder", defaults.encoder) not in _ENCODER_CHANNELS:
            raise ValueError(f"unknown encoder {known['encoder']!r}; known: {', '.join(_ENCODER_CHANNELS)}")
        if known.get("input_norm", defaults.input_norm) not in INPUT_NORMS:
            raise ValueError(f"unknown input_norm {known['input_norm']!r}; known: {', '.join(INPUT_NORMS)}")
        return cls(**known)


class ModelOutput(NamedTuple):
    seg_logits: torch.Tensor  # (N, 3, H, W)
    fraction: torch.Tensor  # (N,) fragmentation fraction in [0, 1]
    attention: list[torch.Tensor]  # one (N, 1, H, W) map in 0..1 per gated skip, coarse to fine
    embedding: torch.Tensor  # (N, D); zeros when the regression head is off


class Encoder(nn.Module):
    """torchvision ResNet, no download, 1-channel stem, output stride 16 (dilated last stage).

    Returns the maps at strides 2 (the stem before max-pooling), 4, 8, 16, 16.
    """

    def __init__(self, name: str):
        super().__init__()
        if name not in _ENCODER_CHANNELS:
            raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(_ENCODER_CHANNELS)}")
        import torchvision  # here, not at import: inference under ONNX Runtime never needs it (~170 MB)

        net = getattr(torchvision.models, name)(weights=None)
        _dilate_last_stage(net.layer4)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels = _ENCODER_CHANNELS[name]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s2 = self.stem[:3](x)  # conv, BN, ReLU: stride 2
        c1 = self.layer1(self.stem[3](s2))  # max-pool, layer 1: stride 4
        c2 = self.layer2(c1)  # stride 8
        c3 = self.layer3(c2)  # stride 16
        c4 = self.layer4(c3)  # stride 16 (dilated)
        return [s2, c1, c2, c3, c4]


def _dilate_last_stage(stage: nn.Sequential, dilation: int = 2) -> None:
    """Turn the last stage's stride 2 into dilation 2 (output stride 16), for Basic and Bottleneck blocks."""
    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            if module.stride == (2, 2):
                module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation = (dilation, dilation)
                module.padding = (dilation, dilation)


def decoder_strides(cfg: ModelConfig) -> list[int]:
    """The decoder's skip strides, coarse to fine (stride 4 always; the order of ModelOutput.attention)."""
    return sorted(set(cfg.skip_strides) | {4}, reverse=True)


def display_attention_of(cfg: ModelConfig) -> int | None:
    """Index of the attention map shown to the user (see AttnRegDeepLab.display_attention), from the config
    alone: the predictor under ONNX Runtime never builds the network."""
    strides = decoder_strides(cfg) if cfg.attention_gates else []
    return strides.index(4) if 4 in strides else None


def conv_bn_relu(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class AttentionGate(nn.Module):
    """Additive attention gate: the coarser decoder feature decides which skip pixels pass."""

    def __init__(self, skip_channels: int, gate_channels: int, inter_channels: int):
        super().__init__()
        self.theta_x = nn.Conv2d(skip_channels, inter_channels, 1, bias=False)
        self.phi_g = nn.Conv2d(gate_channels, inter_channels, 1, bias=True)
        self.psi = nn.Conv2d(inter_channels, 1, 1, bias=True)
        nn.init.constant_(self.psi.bias, 1.0)  # start mostly open so stage 1 learns from every pixel

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = F.interpolate(self.phi_g(gate), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        alpha = torch.sigmoid(self.psi(F.relu(self.theta_x(skip) + g)))
        return skip * alpha, alpha


class GatedDecoder(nn.Module):
    """DeepLabV3+ decoder; every skip connection passes through an Attention Gate (when enabled).

    Skips are fused coarse to fine. The stride-2 stage is narrow: the wide decoder map is reduced by a 1x1
    convolution before it is upsampled, so the stage adds a few % of the network's cost.
    """

    def __init__(self, cfg: ModelConfig, enc_channels: tuple[int, ...]):
        super().__init__()
        unknown = set(cfg.skip_strides) - set(_STRIDE_TO_LEVEL)
        if unknown:
            raise ValueError(f"skip strides must be among {sorted(_STRIDE_TO_LEVEL)}, not {sorted(unknown)}")
        self.strides = decoder_strides(cfg)
        self.projections = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.reduce = nn.ModuleList()
        self.fuse = nn.ModuleList()
        channels = cfg.aspp_channels
        for stride in self.strides:
            fine = stride == 2
            skip_ch = cfg.fine_skip_channels if fine else cfg.skip_channels
            out_ch = cfg.fine_channels if fine else cfg.decoder_channels
            in_ch = out_ch if fine else channels
            self.projections.append(conv_bn_relu(enc_channels[_STRIDE_TO_LEVEL[stride]], skip_ch, 1))
            gate = AttentionGate(skip_ch, channels, max(skip_ch // 2, 8))
            self.gates.append(gate if cfg.attention_gates else nn.Identity())
            self.reduce.append(conv_bn_relu(channels, in_ch, 1) if fine else nn.Identity())
            self.fuse.append(nn.Sequential(conv_bn_relu(in_ch + skip_ch, out_ch), conv_bn_relu(out_ch, out_ch)))
            channels = out_ch
        self.out_channels = channels
        self.out_stride = self.strides[-1]
        self.use_gates = cfg.attention_gates

    def forward(self, feats: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        alphas = []
        for stride, proj, gate, reduce, fuse in zip(
            self.strides, self.projections, self.gates, self.reduce, self.fuse, strict=True
        ):
            skip = proj(feats[_STRIDE_TO_LEVEL[stride]])
            if self.use_gates:
                skip, alpha = gate(skip, x)
                alphas.append(alpha)
            x = F.interpolate(reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = fuse(torch.cat([x, skip], dim=1))
        return x, alphas


class MultiScaleRegressionHead(nn.Module):
    """Pooled features of encoder stages 2-4, ASPP and the decoder map -> MLP -> embedding e -> fraction.

    Average pooling keeps the features area-like, which is what a fragmentation fraction is made of.
    """

    def __init__(self, in_channels: int, embedding_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, 256), nn.ReLU(True), nn.Dropout(0.1), nn.Linear(256, embedding_dim), nn.ReLU(True)
        )
        self.out = nn.Linear(embedding_dim, 1)

    @staticmethod
    def pool(feats: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([F.adaptive_avg_pool2d(f, 1).flatten(1) for f in feats], dim=1)

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.mlp(pooled)
        return torch.sigmoid(self.out(e)).squeeze(1), e


class FeatureInjection(nn.Module):
    """FiLM of the decoder map by the global embedding; zero-initialised, so it starts as identity."""

    def __init__(self, embedding_dim: int, channels: int):
        super().__init__()
        self.film = nn.Linear(embedding_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(e).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (1 + gamma) + beta


class BoundaryRefiner(nn.Module):
    """Residual logits from the grey image and the class probabilities, at full detail.

    Both inputs are folded 2x2 into channels (space-to-depth, lossless), so the convolutions run on a quarter
    of the pixels yet see every one; the output is unfolded back. The last layer starts at zero: an untrained
    refiner leaves the masks exactly as the decoder drew them.
    """

    def __init__(self, width: int, dilations: tuple[int, ...]):
        super().__init__()
        layers, cin = [], 4 * (1 + NUM_CLASSES)
        for d in dilations:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(cin, width, 3, padding=d, dilation=d, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)
                )
            )
            cin = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, 4 * NUM_CLASSES, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, image: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        h, w = logits.shape[-2:]  # the image's size: the network's logits come back at input size
        z = torch.cat([image, logits.softmax(dim=1)], dim=1)
        ph, pw = h % 2, w % 2  # odd sizes: pad to fold, crop after unfolding
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph), mode="replicate")
        residual = F.pixel_shuffle(self.out(self.body(F.pixel_unshuffle(z, 2))), 2)
        return logits + residual[..., :h, :w]


class SegHead(nn.Conv2d):
    """The 1x1 classifier of the decoder map (parameters seg_head.weight/.bias, as in every weights file),
    with the optional boundary refiner as its child (seg_head.refine.*)."""

    def __init__(self, in_channels: int, out_channels: int, refine_width: int, refine_dilations: tuple[int, ...]):
        super().__init__(in_channels, out_channels, 1)
        self.refine = BoundaryRefiner(refine_width, refine_dilations) if refine_width > 0 else None


class AttnRegDeepLab(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.encoder = Encoder(cfg.encoder)
        enc = self.encoder.channels
        from torchvision.models.segmentation.deeplabv3 import ASPP

        self.aspp = ASPP(enc[4], list(cfg.atrous_rates), cfg.aspp_channels)
        self.decoder = GatedDecoder(cfg, enc)
        if cfg.seg_upsample not in ("shuffle", "bilinear"):
            raise ValueError(f"seg_upsample must be 'shuffle' or 'bilinear', not {cfg.seg_upsample!r}")
        self.upscale = self.decoder.out_stride if cfg.seg_upsample == "shuffle" else 1
        dec_channels = self.decoder.out_channels
        self.seg_head = SegHead(
            dec_channels, NUM_CLASSES * self.upscale**2, cfg.refine_width, tuple(cfg.refine_dilations)
        )
        self.pooled_channels = enc[2] + enc[3] + enc[4] + cfg.aspp_channels + dec_channels
        self.area_input = cfg.regression_head and cfg.area_input
        self.pooled_channels += AREA_FEATURES if self.area_input else 0
        self.reg_head = (
            MultiScaleRegressionHead(self.pooled_channels, cfg.embedding_dim) if cfg.regression_head else None
        )
        use_injection = cfg.regression_head and cfg.feature_injection
        self.injection = FeatureInjection(cfg.embedding_dim, dec_channels) if use_injection else None

    @property
    def attention_strides(self) -> list[int]:
        """The stride of each gated skip, in the order of ModelOutput.attention (coarse to fine)."""
        return list(self.decoder.strides) if self.cfg.attention_gates else []

    @property
    def display_attention(self) -> int | None:
        """Index of the map shown to the user: the stride-4 gate, which reads the decoder's semantic context
        (the stride-2 gate of the full-detail stage mostly follows edges)."""
        return display_attention_of(self.cfg)

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        """What stage 2 keeps fixed (and its feature cache depends on)."""
        return ("encoder.", "aspp.", "decoder.") + (("seg_head.",) if self.area_input else ())

    # The forward pass is split in two halves so that stage 2 can cache what the frozen half computes.
    def frozen_features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Encoder + ASPP + decoder: (decoder map, pooled multi-scale vector, gate maps at feature size)."""
        feats = self.encoder(image)
        x = self.aspp(feats[4])
        dec, alphas = self.decoder(feats, x)
        pooled = MultiScaleRegressionHead.pool([feats[2], feats[3], feats[4], x, dec])
        if self.area_input:
            area = area_features(self.seg_head(dec))  # the un-injected masks, before PixelShuffle
            pooled = torch.cat([pooled, AREA_SCALE * area], dim=1)
        return dec, pooled, alphas

    def heads(self, dec: torch.Tensor, pooled: torch.Tensor, out_size: tuple[int, int]) -> tuple:
        """Regression head, injection and seg head on (possibly cached) frozen features."""
        n = dec.shape[0]
        if self.reg_head is not None:
            fraction, embedding = self.reg_head(pooled)
        else:
            fraction = dec.new_zeros(n)
            embedding = dec.new_zeros(n, self.cfg.embedding_dim)
        if self.injection is not None:
            dec = self.injection(dec, embedding)
        return self.segment(dec, out_size), fraction, embedding

    def segment(self, dec: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        logits = self.seg_head(dec)
        if self.upscale > 1:
            logits = F.pixel_shuffle(logits, self.upscale)
        if tuple(logits.shape[-2:]) != tuple(out_size):
            logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        return logits

    def refine(self, image: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The boundary refiner's logits, or the logits as they are when the model has none."""
        return logits if self.seg_head.refine is None else self.seg_head.refine(image, logits)

    def forward(self, image: torch.Tensor) -> ModelOutput:
        out_size = tuple(image.shape[-2:])
        dec, pooled, alphas = self.frozen_features(image)
        logits, fraction, embedding = self.heads(dec, pooled, out_size)
        logits = self.refine(image, logits)
        attention = [F.interpolate(a, size=out_size, mode="bilinear", align_corners=False) for a in alphas]
        return ModelOutput(logits, fraction, attention, embedding)


def argmax3(logits: torch.Tensor) -> torch.Tensor:
    """argmax over the 3 class planes of (3, H, W) or (N, 3, H, W) logits -> uint8 class ids, by elementwise
    comparisons (ties to the lower class, like argmax).

    torch's strided argmax over the class axis is ~35-40x slower on the CPU (a 500x500 frame; a validation batch).
    """
    c0, c1, c2 = logits.unbind(-3)
    mask = (c1 > c0).to(torch.uint8)
    mask[c2 > torch.maximum(c0, c1)] = 2
    return mask


def area_features(logits: torch.Tensor) -> torch.Tensor:
    """(N, 8): mean softmax and argmax share of each class, and fragment / (fragment + blastomere) of both.

    Takes (N, 3, H, W) logits or the seg head's (N, 3*r*r, h, w) before PixelShuffle (a mere rearrangement,
    so the shares are the same). Elementwise over class planes: torch's softmax/argmax over a strided class
    axis would cost as much as the decoder on the CPU. Ties go to the lower class, like argmax.
    """
    c0, c1, c2 = logits.reshape(logits.shape[0], NUM_CLASSES, -1).unbind(1)
    top01 = torch.maximum(c0, c1)
    top = torch.maximum(top01, c2)
    e0, e1, e2 = (c0 - top).exp(), (c1 - top).exp(), (c2 - top).exp()
    total = e0 + e1 + e2
    soft = torch.stack([(e / total).mean(1) for e in (e0, e1, e2)], dim=1)
    is2 = c2 > top01
    is1 = (c1 > c0) & ~is2
    hard1, hard2 = is1.to(logits.dtype).mean(1), is2.to(logits.dtype).mean(1)
    hard = torch.stack([1 - hard1 - hard2, hard1, hard2], dim=1)
    parts = []
    for frac in (soft, hard):
        share = frac[:, 2] / (frac[:, 1] + frac[:, 2]).clamp_min(1e-6)
        parts += [frac, share.unsqueeze(1)]
    return torch.cat(parts, dim=1)


def parameters_with_prefix(model: nn.Module, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
    return [p for name, p in model.named_parameters() if name.startswith(prefixes)]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
