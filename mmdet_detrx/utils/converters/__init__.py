"""Checkpoint converters from official third-party releases to mmdet 3.x state-dict layouts.

Only torch is needed to import these modules, so they can be used outside a training environment.
"""
from .conditional_detr import (COCO_CATEGORY_IDS, ConversionError, ConversionReport,
                               check_against_state_dict, convert_conditional_detr,
                               convert_conditional_detr_with_report, describe_conditional_detr)

__all__ = [
    'COCO_CATEGORY_IDS', 'ConversionError', 'ConversionReport', 'check_against_state_dict',
    'convert_conditional_detr', 'convert_conditional_detr_with_report', 'describe_conditional_detr'
]
