"""Checkpoint converters from official third-party releases to mmdet 3.x state-dict layouts.

Only torch is needed to import these modules, so they can be used outside a training environment.
"""
from .common import (COCO_CATEGORY_IDS, ConversionError, ConversionReport, build_target_state,
                     check_against_state_dict)
from .conditional_detr import (convert_conditional_detr, convert_conditional_detr_with_report,
                               describe_conditional_detr)
from .up_detr import (convert_official_up_detr, convert_official_up_detr_with_report,
                      convert_up_detr_to_finetune, convert_up_detr_to_finetune_with_report,
                      describe_official_up_detr)

__all__ = [
    'COCO_CATEGORY_IDS', 'ConversionError', 'ConversionReport', 'build_target_state', 'check_against_state_dict',
    'convert_conditional_detr', 'convert_conditional_detr_with_report', 'describe_conditional_detr',
    'convert_official_up_detr', 'convert_official_up_detr_with_report', 'convert_up_detr_to_finetune',
    'convert_up_detr_to_finetune_with_report', 'describe_official_up_detr'
]
