"""Comparison studies: select source data, augment, both, or DANN — arms × seeds at equal budget, paired over
seeds, with a recommendation computed from the numbers and a map of when each wins (see :mod:`.runner`)."""

from da_core.study.analysis import ArmResult, CellResult, Recommendation, arm_results, cell_result, recommend
from da_core.study.arms import ARMS, REFERENCE, Arm, Ingredients, arms, default_arms, get_arm, register_arm
from da_core.study.runner import Setup, StudyResult, estimate_seconds, prepare_setup, run_study, study_records
from da_core.study.spec import Cell, StudySpec

__all__ = ["ARMS", "REFERENCE", "Arm", "ArmResult", "Cell", "CellResult", "Ingredients", "Recommendation", "Setup",
           "StudyResult", "StudySpec", "arm_results", "arms", "cell_result", "default_arms", "estimate_seconds",
           "get_arm", "prepare_setup", "recommend", "register_arm", "run_study", "study_records"]
