"""Metrics registered into mmdet's ``METRICS``."""
from .multi_label_space_metric import DetrxMultiLabelSpaceMetric
from .one_shot_metric import DetrxOneShotMetric

__all__ = ['DetrxMultiLabelSpaceMetric', 'DetrxOneShotMetric']
