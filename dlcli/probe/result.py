"""What one probe pass reports: a row per module that owns parameters, an entry per distinct parameter, blocks,
alarms (what is wrong, where), findings and checked advice; each builds its own JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcli.probe.theory import LayerTheory
from dlcli.vanish.analysis import EXPLODING_ABOVE, VANISHING_BELOW
from dlcli.vanish.config import DEFAULT_GAIN

VERDICTS = ("healthy", "vanishing", "exploding", "non-finite", "unhealthy")


@dataclass(frozen=True)
class ModuleStats:
    layer: int                        # position in the order the forward pass first ran the modules
    name: str
    type: str
    width: int | None                 # units: features (Linear) or channels (Conv, norms)
    weight_grad_norm: float | None    # ‖∂loss/∂weight‖ (Frobenius, over the module's weight tensors); None: none
    weight_norm: float
    grad_rms: float | None            # root mean square of ∂loss/∂(module output)
    act_mean: float | None            # of a = φ(output) where an activation takes the output, else of the output
    act_std: float | None
    saturated_frac: float | None      # share of unit-samples with |φ'| < 1% of max|φ'| (None: no activation seen)
    dead_frac: float | None           # share of units with φ' = 0 for every sample and position
    activation: str | None = None
    gradient: str = "ok"              # ok, frozen, unused, detached, indirect, tied
    calls: int = 0
    nonfinite_output: bool = False
    nonfinite_grad: bool = False
    grad_norm: float | None = None    # ‖∂loss/∂(module output)‖, the whole tensor
    grad_to_weight: float | None = None  # weight_grad_norm / weight_norm
    shared_with: tuple[str, ...] = ()    # the rows whose weights are the same tensors (tied)
    block: str = ""                   # the residual block or transformer layer it belongs to
    matrix: bool = False              # its weights are matrices or kernels (not a norm, a scale or an embedding)
    theory: LayerTheory = field(default_factory=lambda: LayerTheory(False, "not computed"))

    def as_dict(self) -> dict[str, object]:
        d = {k: v for k, v in self.__dict__.items() if k != "theory"}
        d["shared_with"] = list(self.shared_with)
        d["theory"] = self.theory.as_dict()
        return d


@dataclass(frozen=True)
class ParameterStats:
    """One distinct trainable tensor, named once however many modules share it."""

    name: str
    shared_with: list[str]
    module: str
    shape: list[int]
    grad_norm: float | None
    norm: float
    grad_to_weight: float | None

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["shared_with"], d["shape"] = list(self.shared_with), list(self.shape)  # a copy: the result stays as made
        return d


@dataclass(frozen=True)
class BlockStats:
    """Rows grouped by residual block or transformer layer."""

    name: str
    modules: tuple[str, ...]
    weight_grad_norm: float | None
    weight_norm: float
    grad_to_weight: float | None
    dead_max: float | None
    saturated_max: float | None

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["modules"] = list(self.modules)
        return d


@dataclass(frozen=True)
class Alarm:
    """Something wrong, where: kind (vanishing, exploding, non_finite, dead, no_gradient), the modules, a sentence."""

    kind: str
    modules: tuple[str, ...]
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "modules": list(self.modules), "text": self.text}


@dataclass(frozen=True)
class Check:
    """A re-initialisation tried on the same architecture, batch and loss, and what it measured."""

    init: str
    gain: float
    gradient_ratio: float
    grad_rms_ratio: float
    verdict: str
    dead_max: float
    helped: bool = False
    seconds: float = 0.0      # the re-run's wall time, apart from the pass it checks

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def option(self) -> str:
        return f"--init {self.init}" + ("" if self.gain == DEFAULT_GAIN[self.init] else f" --gain {self.gain:.4g}")


@dataclass(frozen=True)
class ModuleConfig:
    model: str
    input_shape: tuple[int, ...]
    batch: int
    data: str
    loss: str
    output: str
    dtype: str
    device: str
    seed: int
    init: str
    gain: float | None
    mode: str

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["input_shape"] = list(self.input_shape)
        return d


@dataclass(frozen=True)
class ModuleResult:
    config: ModuleConfig
    layers: tuple[ModuleStats, ...]
    gradient_ratio: float     # ‖∂W‖ of the input-side dense layer / that of the output-side one it feeds
    grad_rms_ratio: float
    ratio_between: tuple[str, str] | None
    verdict: str
    findings: tuple[str, ...]
    advice: tuple[str, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...]
    parameters: tuple[ParameterStats, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    blocks: tuple[BlockStats, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()   # (module feeding, module fed), read from the autograd graph

    @property
    def explanation(self) -> tuple[str, ...]:
        return self.findings + self.advice

    def as_dict(self) -> dict[str, object]:
        """The JSON of `vanish --model`: config, layers, parameters, blocks, verdict, alarms, findings, advice."""
        return {
            "config": self.config.as_dict(),
            "layers": [s.as_dict() for s in self.layers],
            "parameters": [p.as_dict() for p in self.parameters],
            "blocks": [b.as_dict() for b in self.blocks],
            "edges": [list(e) for e in self.edges],
            "gradient_ratio": self.gradient_ratio,
            "grad_rms_ratio": self.grad_rms_ratio,
            "ratio_between": list(self.ratio_between) if self.ratio_between else None,
            "verdict": self.verdict,
            "alarms": [a.as_dict() for a in self.alarms],
            "thresholds": {"vanishing_below": VANISHING_BELOW, "exploding_above": EXPLODING_ABOVE},
            "findings": list(self.findings),
            "advice": list(self.advice),
            "checks": [c.as_dict() for c in self.checks],
            "notes": list(self.notes),
            "explanation": list(self.explanation),
        }
