"""Metrics registered into mmdet's ``METRICS``."""
from .multi_label_space_metric import MultiLabelSpaceMetric
from .one_shot_metric import OneShotMetric

__all__ = ['MultiLabelSpaceMetric', 'OneShotMetric']
