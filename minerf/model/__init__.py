"""The MI-NeRF model: interaction modules, encodings, the conditioned field, rays and rendering.

Tensor shapes are written in the signatures (jaxtyping) of this package and of
:mod:`minerf.render`; the test run checks them (tests/conftest.py). One name per dimension:

    rays        rays of one call (a ray batch, or the pixels of a view)
    samples     depth samples per ray (coarse, or coarse and fine together)
    fine        importance samples drawn per ray
    frames      frames conditioned or rendered in one call
    window      frames of a smoothing window around each frame (1 without smoothing)
    time        entries of an expression sequence that frames index into
    expr        expression dimension d (= identity code dimension)
    latent      per-frame latent code dimension (32)
    cond        conditioning vector of the field (module output [+ latent code])
    batch       points or items of a generic batch
    coords      coordinates of a point given to an encoding
    enc         features an encoding (or an interaction term) gives per item
    size        side of the square crop a clip is prepared at
    height width  the rendered part of a view (the whole crop, or a box of it)
    frame_h frame_w  a full-resolution source frame
"""

from minerf.model.interaction import VARIANTS, InteractionConfig, InteractionModule
from minerf.model.mi_nerf import MINeRF, MINeRFConfig
from minerf.model.presets import ABLATIONS, PRESETS, get_preset, with_ablation
from minerf.model.rays import Rays

__all__ = ["ABLATIONS", "InteractionConfig", "InteractionModule", "MINeRF", "MINeRFConfig", "PRESETS", "Rays", "VARIANTS", "get_preset", "with_ablation"]
