"""Source-domain data selection: selectors (a registry), what a selection is measured by, and the workflow."""

from da_core.select import dsir  # noqa: F401  (registers the text selector)
from da_core.select.measures import CurvePoint, effective_sample_size, gap_curve
from da_core.select.selectors import Selector, SelectorInput, Weights, get_selector, select_top, selectors
from da_core.select.workflow import DEFAULT_FRACTION, DEFAULT_METHOD, SelectionResult, select_source

__all__ = ["DEFAULT_FRACTION", "DEFAULT_METHOD", "CurvePoint", "SelectionResult", "Selector", "SelectorInput",
           "Weights", "effective_sample_size", "gap_curve", "get_selector", "select_source", "select_top",
           "selectors"]
