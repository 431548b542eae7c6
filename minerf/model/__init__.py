"""The MI-NeRF model: interaction modules, encodings, the conditioned field, rays and rendering."""

from minerf.model.interaction import VARIANTS, InteractionConfig, InteractionModule
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.model.presets import ABLATIONS, PRESETS, get_preset, with_ablation

__all__ = ["ABLATIONS", "InteractionConfig", "InteractionModule", "MINeRF", "MINeRFConfig", "PRESETS", "VARIANTS", "get_preset", "with_ablation"]
