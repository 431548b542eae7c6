"""Names that ``identities_scaling.py`` imports from here; they live in
:mod:`minerf.eval.scaling`. Import them from there; this file goes once no benchmark imports it."""

from minerf.eval.scaling import first_reaching, scaling_row, summarize

__all__ = ["first_reaching", "scaling_row", "summarize"]
